// XML out, through one builder (fast-xml-parser): every S3 answer document and error document.
import { XMLBuilder } from 'fast-xml-parser';
import { assert } from '../../../shared/assert.ts';

export const s3Namespace = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

/**
 * Elements of differing names in the order given, where the key that holds one stands (in a
 * document's top level): an XmlElement's keys group each name's repeats together, which S3's
 * ListVersionsResult must not do to its Version and DeleteMarker entries.
 */
export class XmlSequence {
  constructor(readonly elements: readonly XmlElement[]) {}
}

/** A value in an XML document: text, a nested element, or repeated elements (an array). */
export type XmlValue = string | number | boolean | XmlElement | XmlSequence | readonly XmlValue[];
export interface XmlElement {
  readonly [name: string]: XmlValue | undefined;
}

/** `<?xml …?><root xmlns="…">…</root>`; undefined fields are left out, arrays repeat their element. */
export function xmlDocument(root: string, body: XmlElement, namespace: string | null = s3Namespace): string {
  // Each sequence is built apart and put where an empty placeholder element was built.
  const sequences: string[] = [];
  const slotted: Record<string, XmlValue | undefined> = {};
  for (const [name, value] of Object.entries(body)) {
    if (!(value instanceof XmlSequence)) {
      slotted[name] = value;
      continue;
    }
    slotted[`dfs-sequence-${sequences.length}`] = '';
    sequences.push(value.elements.map((element) => builder.build(element) as string).join(''));
  }
  const element = namespace === null ? slotted : { '@_xmlns': namespace, ...slotted };
  let xml = builder.build({ [root]: element }) as string;
  sequences.forEach((built, at) => {
    const slot = `<dfs-sequence-${at}></dfs-sequence-${at}>`;
    assert(xml.split(slot).length === 2, `the XML sequence slot ${at} is not once in the document`);
    xml = xml.replace(slot, () => built);
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

/** An S3 error document. */
export function errorDocument(code: string, message: string, resource: string, requestId: string, details: Readonly<Record<string, string>> = {}): string {
  return xmlDocument('Error', { Code: code, Message: message, ...details, Resource: resource, RequestId: requestId }, null);
}
