/**
 * openrm's public contract between bundles: domain types, service interfaces and session events.
 * Implementation bundles import only this package, so any of them can be updated at runtime while the
 * stores published from this rarely-updated bundle keep live sessions and port counts.
 */
@org.osgi.annotation.versioning.Version("0.7.0")
package org.openrm.api;
