// An S3 request, parsed once: path-style addressing (`/<bucket>/<key>`), or virtual-host style
// (`Host: <bucket>.<domain>`, `/<key>`) with --s3-domain, and the operation its
// method, path and query keywords name (after Garage's router). Operations not built yet are
// NotImplemented, never mistaken for another: `PUT /b/k?uploadId=…` is UploadPart, not PutObject.
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { S3Error } from './s3-errors.ts';

export type Endpoint =
  | { readonly op: 'ListBuckets' }
  | { readonly op: 'CreateBucket' | 'HeadBucket' | 'DeleteBucket' | 'GetBucketLocation' | 'ListObjects' | 'ListObjectsV2' | 'DeleteObjects' | 'GetBucketVersioning' | 'PutBucketVersioning' | 'ListObjectVersions' | 'ListMultipartUploads'; readonly bucket: string }
  | { readonly op: 'PutObject' | 'CopyObject' | 'GetObject' | 'HeadObject' | 'DeleteObject'; readonly bucket: string; readonly key: string }
  | { readonly op: MultipartObjectOp; readonly bucket: string; readonly key: string };

/** The multipart upload operations on an object (gateway/src/s3/multipart.ts); the upload id is in the query. */
export type MultipartObjectOp = 'CreateMultipartUpload' | 'UploadPart' | 'UploadPartCopy' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'ListParts';

/** The multipart operation a request on an object names, or null when it names none. */
function multipartOp(method: string, query: URLSearchParams, headers: Headers): MultipartObjectOp | null {
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (!query.has('uploadId')) return null;
  if (method === 'PUT' && query.has('partNumber')) return headers.has('x-amz-copy-source') ? 'UploadPartCopy' : 'UploadPart';
  if (method === 'POST') return 'CompleteMultipartUpload';
  if (method === 'DELETE') return 'AbortMultipartUpload';
  if (method === 'GET') return 'ListParts';
  return null;
}

/** Query keywords that name a sub-resource or an operation of their own (those built are routed before these are refused). */
const bucketSubresources = [
  'accelerate', 'acl', 'analytics', 'cors', 'delete', 'encryption', 'intelligent-tiering', 'inventory', 'lifecycle', 'logging',
  'metrics', 'notification', 'object-lock', 'ownershipControls', 'policy', 'policyStatus', 'publicAccessBlock', 'replication',
  'requestPayment', 'tagging', 'uploads', 'versioning', 'versions', 'website', 'session', 'metadataConfiguration',
];
const objectSubresources = ['acl', 'attributes', 'legal-hold', 'partNumber', 'restore', 'retention', 'select', 'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'renameObject'];

function notBuilt(what: string): never {
  throw new S3Error('NotImplemented', `${what} is not implemented yet.`);
}

/** The bucket and key of a raw path (`/bucket/key…`, percent-encoded as sent). */
export function pathParts(rawPath: string): { bucket: string | null; key: string | null } {
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  if (path === '') return { bucket: null, key: null };
  const slash = path.indexOf('/');
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw new S3Error('InvalidArgument', 'The path is not valid percent-encoded UTF-8.');
    }
  };
  if (slash === -1 || slash === path.length - 1) return { bucket: decode(slash === -1 ? path : path.slice(0, -1)), key: null };
  return { bucket: decode(path.slice(0, slash)), key: decode(path.slice(slash + 1)) };
}

/**
 * The path-style form of a request's path: with `domain` set, a Host of `<bucket>.<domain>` (any
 * port, any case) names the bucket, which goes in front of the path; any other Host (the domain
 * itself, an IP address, localhost) is path-style already.
 */
export function addressedPath(rawPath: string, host: string | null, domain: string | null): string {
  if (domain === null || host === null) return rawPath;
  const name = host.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  if (!name.endsWith(`.${domain}`)) return rawPath;
  const bucket = name.slice(0, -(domain.length + 1));
  return `/${bucket}${rawPath.startsWith('/') ? rawPath : `/${rawPath}`}`;
}

export function route(method: string, rawPath: string, query: URLSearchParams, headers: Headers): Endpoint {
  const { bucket, key } = pathParts(rawPath);
  if (bucket === null) {
    if (method === 'GET') return { op: 'ListBuckets' };
    throw new S3Error('MethodNotAllowed', `${method} is not allowed on the service.`);
  }
  const problem = bucketNameProblem(bucket);
  if (problem !== null) throw new S3Error('InvalidBucketName', `The specified bucket is not valid: ${problem}.`, { BucketName: bucket });
  if (key === null) {
    if (method === 'POST' && query.has('delete')) return { op: 'DeleteObjects', bucket };
    if (method === 'GET' && query.has('versioning')) return { op: 'GetBucketVersioning', bucket };
    if (method === 'PUT' && query.has('versioning')) return { op: 'PutBucketVersioning', bucket };
    if (method === 'GET' && query.has('versions')) return { op: 'ListObjectVersions', bucket };
    if (method === 'GET' && query.has('uploads')) return { op: 'ListMultipartUploads', bucket };
    const subresource = bucketSubresources.find((name) => query.has(name));
    if (subresource !== undefined) notBuilt(`${method} /<bucket>?${subresource}`);
    if (method === 'GET' && query.has('location')) return { op: 'GetBucketLocation', bucket };
    switch (method) {
      case 'PUT':
        return { op: 'CreateBucket', bucket };
      case 'HEAD':
        return { op: 'HeadBucket', bucket };
      case 'DELETE':
        return { op: 'DeleteBucket', bucket };
      case 'GET':
        return { op: query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects', bucket };
      case 'POST':
        return notBuilt('POST /<bucket> (browser uploads)');
      default:
        throw new S3Error('MethodNotAllowed', `${method} is not allowed on a bucket.`);
    }
  }
  const multipart = multipartOp(method, query, headers);
  if (multipart !== null) return { op: multipart, bucket, key };
  // ?versionId reads a version (GetObject, HeadObject) or deletes one (DeleteObject); ?partNumber
  // reads a part of a multipart object (GetObject, HeadObject).
  const read = method === 'GET' || method === 'HEAD';
  const versionRead = read || method === 'DELETE';
  const subresource = objectSubresources.find((name) => query.has(name) && !(name === 'versionId' && versionRead) && !(name === 'partNumber' && read));
  if (subresource !== undefined) notBuilt(`${method} /<bucket>/<key>?${subresource}`);
  switch (method) {
    case 'PUT':
      return { op: headers.has('x-amz-copy-source') ? 'CopyObject' : 'PutObject', bucket, key };
    case 'GET':
      return { op: 'GetObject', bucket, key };
    case 'HEAD':
      return { op: 'HeadObject', bucket, key };
    case 'DELETE':
      return { op: 'DeleteObject', bucket, key };
    case 'POST':
      return notBuilt('POST /<bucket>/<key> without ?uploads or ?uploadId');
    default:
      throw new S3Error('MethodNotAllowed', `${method} is not allowed on an object.`);
  }
}
