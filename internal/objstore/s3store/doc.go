// Package s3store is an objstore.Store on Amazon S3 and S3-compatible
// servers (MinIO, Ceph RGW, Cloudflare R2 …), written with the AWS SDK for
// Go v2.
//
// # Keys
//
// A store key is the object's key below Config.Prefix, a folder inside the
// bucket: with Prefix "archive", the store key "tenant=acme/x.ndjson.gz" is
// the object "archive/tenant=acme/x.ndjson.gz". List strips the prefix again
// and skips objects whose keys objstore.CheckKey rejects (the zero-byte
// "folder/" objects that consoles create). S3 lists keys in the byte order of
// their UTF-8 encoding, which is Go's string order: List's lexical order.
//
// # Durability
//
// Put returns once the server has answered PutObject (or
// CompleteMultipartUpload) with success; S3 answers only after the object is
// stored redundantly, so that is the point where the object is durable. An
// upload that fails midway leaves no object: a multipart upload is aborted
// (a lifecycle rule AbortIncompleteMultipartUpload cleans up the parts of an
// abort that did not reach the server either).
//
// # Idempotent, collision-safe writes
//
// The archive's keys are deterministic (writer id + WAL range), so a retry
// puts the same bytes under the same key again. Put asks the server to store
// an object only if none is there (If-None-Match: *, which AWS S3 and MinIO
// honour for PutObject and CompleteMultipartUpload). When the server answers
// 412 Precondition Failed, Put reads the object that is there: the same bytes
// mean an earlier attempt got through (success); different bytes are
// ErrConflict, naming the key — two collectors configured with one writer
// id, which must not silently overwrite each other's batches. (So the
// credentials need s3:GetObject besides s3:PutObject; search reads the
// archive anyway.)
//
// One case of different bytes is not a collision: a collector restarted
// with another kansa version or gzip level rebuilds a batch it had begun to
// upload, and encodes it differently. Every object carries its collector's
// owner id (Config.Owner, generated once per data directory) as the
// metadata kansa-owner; an object with different bytes and this
// collector's owner id is replaced, and the replacement logged.
//
// A server that answers 501 Not Implemented to the conditional request gets
// a plain PutObject instead, and the store remembers to send plain ones from
// then on (and logs that once): overwriting with the same bytes is what the
// archive's retries need, only the collision check is lost. A server that
// ignores the header simply overwrites.
//
// # Failures
//
// Every request is retried by the SDK's standard retryer (exponential
// backoff with jitter; 5xx, SlowDown, throttling, connection errors and
// timeouts) up to Config.MaxAttempts, each attempt bounded by
// Config.RequestTimeout. What still fails is returned, wrapped with what was
// being done; kansa's batcher retries a failed batch until it succeeds.
package s3store
