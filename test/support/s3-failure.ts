// What an S3 call that should fail failed with, as the SDK reports it: S3's error code and the
// HTTP status (a call that succeeds fails the test).
import assert from 'node:assert/strict';
import { S3ServiceException } from '@aws-sdk/client-s3';

export async function s3Failure(promise: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `an S3 error, got ${String(err)}`);
    return { name: err.name, status: err.$metadata.httpStatusCode };
  }
  assert.fail('the request succeeded');
}
