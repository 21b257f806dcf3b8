// An object `key` in bucket `b` is the file `b/key` of the native API, so both APIs see the same
// data. Keys the native name rules refuse (empty, `.` or `..` segments, a trailing `/`, control
// characters, longer than the name limit) are refused here with S3's codes.
import { nameBytesMax, validateName } from '../../../shared/names.ts';
import { S3Error } from './s3-errors.ts';

export function objectName(bucket: string, key: string): string {
  const name = `${bucket}/${key}`;
  if (Buffer.byteLength(name) > nameBytesMax) {
    throw new S3Error('KeyTooLongError', `Your key is too long: bucket/key may have at most ${nameBytesMax} bytes here.`, { Key: key });
  }
  const check = validateName(name);
  if (!check.ok) throw new S3Error('InvalidArgument', `This key cannot be stored: ${check.reason}.`, { Key: key });
  return name;
}
