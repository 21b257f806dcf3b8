// S3 answers: XML documents, and error documents for S3Errors (headers only for HEAD).
import { errorDocument } from './s3-xml.ts';
import type { S3Error } from './s3-errors.ts';

export function xmlResponse(status: number, document: string): Response {
  return new Response(document, { status, headers: { 'Content-Type': 'application/xml' } });
}

/** Seconds a client is told to wait after a 503. */
const retryAfterSeconds = 1;

export function errorResponse(error: S3Error, method: string, resource: string, requestId: string): Response {
  const headers = new Headers({ ...error.headers, 'Content-Type': 'application/xml' });
  if (error.status === 503) headers.set('Retry-After', String(retryAfterSeconds));
  if (method === 'HEAD') return new Response(null, { status: error.status, headers });
  return new Response(errorDocument(error.code, error.message, resource, requestId, error.details), { status: error.status, headers });
}
