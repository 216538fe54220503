import type { Logger, PlatformConfig } from '@cpod/runtime';
import type { SidecarClientOptions } from '@cpod/sdk';

/**
 * The SidecarClient options for CORESDK_FAIL_MODE. Fail-open verifies tokens in-process, so it
 * needs the same JWKS URI, issuer and audience as the sidecar; without them the gateway refuses
 * to start rather than quietly failing open on unverified tokens (or quietly failing closed).
 */
export function sidecarFailMode(
  config: PlatformConfig,
  logger: Logger,
): Pick<SidecarClientOptions, 'failMode' | 'localVerification' | 'defaultRateLimit' | 'onFailOpenChange'> {
  const { failMode, jwksUri, expectedIssuer, expectedAudience, rateLimit } = config.sidecar;
  if (failMode === 'closed') return { failMode };
  if (!jwksUri || !expectedIssuer || !expectedAudience) {
    throw new Error(
      'CORESDK_FAIL_MODE=open needs CORESDK_JWKS_URI, CORESDK_EXPECTED_ISSUER and CORESDK_EXPECTED_AUDIENCE: the gateway verifies tokens itself while the sidecar is down',
    );
  }
  return {
    failMode,
    localVerification: { jwksUri, issuer: expectedIssuer, audience: expectedAudience },
    defaultRateLimit: rateLimit,
    onFailOpenChange: (failingOpen, cause) => {
      if (failingOpen)
        logger.warn(
          'sidecar unreachable: CORESDK_FAIL_MODE=open, verifying tokens locally, default scope rule, per-process rate limit; requests are audited as fail_open',
          { err: cause },
        );
      else logger.info('sidecar reachable again: fail-open ended');
    },
  };
}
