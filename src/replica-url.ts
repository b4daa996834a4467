/** REPLICA_URL names an S3-compatible location (`s3://bucket/path`) rather than a directory. */
export const isS3Url = (replicaUrl: string) => replicaUrl.startsWith('s3://');
