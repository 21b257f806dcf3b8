// The refusals of a SigV4 check, with S3's codes and statuses. The S3 API answers them as S3 XML
// error documents; the native API (nodes and gateway, with --auth required) as JSON errors.

export const sigv4ErrorStatus = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidRequest: 400,
  NotImplemented: 501,
  RequestTimeTooSkewed: 403,
  SignatureDoesNotMatch: 403,
} as const;

export type SigV4ErrorCode = keyof typeof sigv4ErrorStatus;

export class SigV4Error extends Error {
  override readonly name = 'SigV4Error';
  readonly status: number;
  constructor(
    readonly code: SigV4ErrorCode,
    message: string,
    /** Extra elements of S3's error document (Region, AWSAccessKeyId, …); never a secret. */
    readonly details: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = sigv4ErrorStatus[code];
  }
}
