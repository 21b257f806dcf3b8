// XML out, through one builder (fast-xml-parser): every S3 answer document and error document.
import { XMLBuilder } from 'fast-xml-parser';

export const s3Namespace = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

/** A value in an XML document: text, a nested element, or repeated elements (an array). */
export type XmlValue = string | number | boolean | XmlElement | readonly XmlValue[];
export interface XmlElement {
  readonly [name: string]: XmlValue | undefined;
}

/** `<?xml …?><root xmlns="…">…</root>`; undefined fields are left out, arrays repeat their element. */
export function xmlDocument(root: string, body: XmlElement, namespace: string | null = s3Namespace): string {
  const element = namespace === null ? body : { '@_xmlns': namespace, ...body };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: element }) as string}`;
}

/** An S3 error document. */
export function errorDocument(code: string, message: string, resource: string, requestId: string, details: Readonly<Record<string, string>> = {}): string {
  return xmlDocument('Error', { Code: code, Message: message, ...details, Resource: resource, RequestId: requestId }, null);
}
