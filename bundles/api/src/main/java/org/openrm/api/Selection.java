package org.openrm.api;

import java.util.List;

/**
 * The application a call was mapped to, and what its admission counted: the IVR profile, its service, the
 * tenant and every tenant above it, with the usage and burst level each had when the call was admitted (for
 * the CDR). The {@link #policyKeys} are released in the {@link PolicyLedger} when the session ends.
 *
 * @param profile      IVR profile name
 * @param service      voicexml, announcement, conference, msml or ccxml
 * @param tenants      the profile's tenant first, then its parent, up to the root
 * @param usage        per tenant in {@code tenants}, its usage counting this call
 * @param burstLevels  per tenant in {@code tenants}, its burst level (1, 2 or 3) counting this call
 * @param policyKeys   counters this call holds in the {@link PolicyLedger}
 * @param conference   for the conference service, the conference id (all its legs share a media server)
 */
public record Selection(String profile, String service, List<String> tenants, List<Integer> usage,
                        List<Integer> burstLevels, List<String> policyKeys, String conference) {
    public Selection {
        tenants = List.copyOf(tenants);
        usage = List.copyOf(usage);
        burstLevels = List.copyOf(burstLevels);
        policyKeys = List.copyOf(policyKeys);
    }

    /** The same selection holding no policy counts (for the CDR of a call whose counts were given back). */
    public Selection withoutPolicyKeys() {
        return new Selection(profile, service, tenants, usage, burstLevels, List.of(), conference);
    }

    /** The profile's own tenant, or null for a profile without one. */
    public String tenant() {
        return tenants.isEmpty() ? null : tenants.get(0);
    }
}
