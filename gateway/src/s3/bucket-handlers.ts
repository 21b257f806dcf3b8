// ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation over the native
// `/buckets` routes (replicated records: see storage-node/src/buckets/).
import { XMLParser } from 'fast-xml-parser';
import { NativeClient } from './native-client.ts';
import { S3Error } from './s3-errors.ts';
import { bucketExists, discard, noSuchBucket, requireBucket, unexpectedAnswer } from './s3-call.ts';
import type { S3Call } from './s3-call.ts';
import { readSmallBody } from './small-body.ts';
import { xmlDocument } from './s3-xml.ts';
import { xmlResponse } from './s3-response.ts';

interface BucketJson {
  readonly name: string;
  readonly created: string;
}

/** The one owner every bucket has until per-key ownership exists. */
export const rootOwner = { ID: 'raft-dfs-root', DisplayName: 'root' };

export async function listBuckets(call: S3Call): Promise<Response> {
  const response = await call.native.request('GET', '/buckets', { signal: call.signal });
  if (response.status !== 200) throw await unexpectedAnswer(response, 'listing the buckets');
  const { buckets } = await NativeClient.json<{ buckets: BucketJson[] }>(response);
  return xmlResponse(200, xmlDocument('ListAllMyBucketsResult', {
    Owner: rootOwner,
    Buckets: buckets.length === 0 ? '' : { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: b.created })) },
  }));
}

/** A CreateBucketConfiguration may only name this gateway's region. */
function checkLocationConstraint(body: Buffer, region: string): void {
  if (body.length === 0) return;
  let parsed: { CreateBucketConfiguration?: { LocationConstraint?: unknown } };
  try {
    parsed = new XMLParser({ ignoreAttributes: true, parseTagValue: false }).parse(body.toString('utf8'), true) as typeof parsed;
  } catch {
    throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
  }
  const constraint = parsed.CreateBucketConfiguration?.LocationConstraint;
  if (constraint === undefined || constraint === '') return;
  if (constraint !== region) throw new S3Error('InvalidLocationConstraint', `The specified location-constraint is not valid: this cluster is region ${region}.`);
}

export async function createBucket(call: S3Call, bucket: string): Promise<Response> {
  checkLocationConstraint(await readSmallBody(call), call.region);
  const response = await call.native.request('PUT', `/buckets/${bucket}`, { signal: call.signal });
  if (response.status === 409) {
    await discard(response);
    throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: bucket });
  }
  if (response.status !== 201) throw await unexpectedAnswer(response, `creating the bucket ${bucket}`);
  await discard(response);
  return new Response(null, { status: 200, headers: { Location: `/${bucket}` } });
}

export async function headBucket(call: S3Call, bucket: string): Promise<Response> {
  await requireBucket(call, bucket);
  return new Response(null, { status: 200, headers: { 'x-amz-bucket-region': call.region } });
}

export async function deleteBucket(call: S3Call, bucket: string): Promise<Response> {
  const response = await call.native.request('DELETE', `/buckets/${bucket}`, { signal: call.signal });
  if (response.status !== 204 && response.status !== 404 && response.status !== 409) throw await unexpectedAnswer(response, `deleting the bucket ${bucket}`);
  await discard(response);
  if (response.status === 404) throw noSuchBucket(bucket);
  if (response.status === 409) throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: bucket });
  return new Response(null, { status: 204 });
}

export async function getBucketLocation(call: S3Call, bucket: string): Promise<Response> {
  if (!(await bucketExists(call, bucket))) throw noSuchBucket(bucket);
  // us-east-1 is the empty constraint, as S3 answers it.
  return xmlResponse(200, xmlDocument('LocationConstraint', { '#text': call.region === 'us-east-1' ? '' : call.region }));
}
