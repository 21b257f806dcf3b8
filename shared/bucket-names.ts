// Bucket names (the S3 API's general purpose bucket rules). A bucket is the first segment of a
// file name, so a valid bucket name is also a valid name segment.

export const bucketNameLengthMin = 3;
export const bucketNameLengthMax = 63;

/** Why `name` is not a valid bucket name, or null when it is. */
export function bucketNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'the bucket name must be a string';
  if (name.length < bucketNameLengthMin || name.length > bucketNameLengthMax) {
    return `a bucket name has ${bucketNameLengthMin} to ${bucketNameLengthMax} characters`;
  }
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return 'a bucket name has lowercase letters, digits, dots and hyphens, and starts and ends with a letter or digit';
  }
  if (name.includes('..')) return 'a bucket name has no two adjacent dots';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return 'a bucket name is not formatted as an IP address';
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.endsWith('-s3alias') || name.endsWith('--ol-s3')) {
    return 'a bucket name does not use a prefix or suffix S3 reserves (xn--, sthree-, -s3alias, --ol-s3)';
  }
  return null;
}
