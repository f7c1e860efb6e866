package s3store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kansa-audit/kansa/internal/objstore"
)

// Defaults for Config.
const (
	DefaultPartSize       = 16 << 20
	DefaultConcurrency    = 4
	DefaultMaxAttempts    = 5
	DefaultRequestTimeout = time.Minute

	// MinPartSize is S3's smallest part of a multipart upload (but the last).
	MinPartSize = 5 << 20
	// maxParts is S3's largest number of parts in one upload.
	maxParts = 10000
)

// ErrConflict is returned by Put when a different object is already stored
// under the key.
var ErrConflict = errors.New("a different object is already stored under this key")

// Config is the s3 section of the archive's config.
type Config struct {
	// Bucket is the bucket's name. Required.
	Bucket string `yaml:"bucket"`
	// Prefix is a folder inside the bucket that every key goes under
	// ("archive" and "archive/" are the same). Empty: the bucket's root.
	Prefix string `yaml:"prefix"`
	// Region is the bucket's AWS region. Empty: AWS_REGION or the shared
	// config's region; with Endpoint set and neither, us-east-1.
	Region string `yaml:"region"`
	// Endpoint is the URL of an S3-compatible server
	// ("http://127.0.0.1:9000" for MinIO). Empty: AWS S3.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses the bucket in the URL's path
	// (https://host/bucket/key) rather than its host name
	// (https://bucket.host/key). Unset: path style when Endpoint is set
	// (what MinIO and most S3-compatible servers need), host style on AWS.
	PathStyle *bool `yaml:"path_style"`
	// Profile is the profile of the shared AWS config and credentials
	// files to use. Empty: AWS_PROFILE, else "default". Credentials come
	// from the SDK's standard chain: environment (AWS_ACCESS_KEY_ID …),
	// shared files, web identity, ECS task role, EC2 instance role (IMDS).
	Profile string `yaml:"profile"`
	// SSE is the server-side encryption of every object: "" (the bucket's
	// default), "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
	SSE string `yaml:"sse"`
	// KMSKeyID is the KMS key for SSE "aws:kms" (id, ARN or alias). Empty:
	// the account's (or server's) default key.
	KMSKeyID string `yaml:"kms_key_id"`
	// ObjectLock puts a retention on every object written. The bucket
	// must have been created with Object Lock enabled.
	ObjectLock ObjectLock `yaml:"object_lock"`
	// PartSize is the size of one part of a multipart upload; objects
	// larger than it are uploaded in parts, Concurrency at a time. 0 means
	// 16 MiB; at least 5 MiB.
	PartSize int64 `yaml:"part_size"`
	// Concurrency is how many parts of one object are uploaded at once.
	// 0 means 4.
	Concurrency int `yaml:"concurrency"`
	// MaxAttempts is how often one request is tried before Put, Get or List
	// fails (retries back off exponentially, with jitter, up to 20 s). 0
	// means 5. The batcher retries a failed batch on top of this, forever.
	MaxAttempts int `yaml:"max_attempts"`
	// RequestTimeout bounds one attempt of one request, from sending it to
	// the last byte of the answer, a part's upload included. 0 means 1m.
	// Raise it when 16 MiB parts take longer than that to send.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// SkipBucketCheck starts without asking the server whether the bucket
	// exists and the credentials reach it (HeadBucket): for a collector
	// that must start while S3 is unreachable (its WAL keeps the events).
	SkipBucketCheck bool `yaml:"skip_bucket_check"`
	// Setting is where this store is configured, for the errors that tell
	// what to fix ("checkpoints.s3"); default "archive.s3". Its bucket and
	// region keys are Setting+".bucket" and Setting+".region".
	Setting string `yaml:"-"`
	// Owner names the collector's data directory (not configured: kansa
	// generates it). Every object carries it as the metadata kansa-owner,
	// and an object already under a key with different bytes is replaced
	// when it carries the same owner: this collector's own unfinished
	// upload from before a restart with another version or gzip level.
	// Empty: such an object is always ErrConflict.
	Owner string `yaml:"-"`
}

// ObjectLock is a retention put on every object: retain-until is the time
// of the Put plus Days.
type ObjectLock struct {
	// Mode is "GOVERNANCE" (users with s3:BypassGovernanceRetention may
	// still delete) or "COMPLIANCE" (nobody can, root included, until the
	// date). Empty: no retention.
	Mode string `yaml:"mode"`
	// Days is how long each object is retained, at least 1.
	Days int `yaml:"days"`
}

// Store is an objstore.Store in an S3 bucket. It is safe for concurrent use.
type Store struct {
	client      *s3.Client
	bucket      string
	prefix      string // "" or ends with "/"
	name        string // for String
	setting     string // Config.Setting, for errors
	sse         types.ServerSideEncryption
	kmsKeyID    *string
	lockMode    types.ObjectLockMode
	lockDays    int
	checksum    types.ChecksumAlgorithm // on every upload; "" leaves it to the SDK
	partSize    int64
	concurrency int
	timeout     time.Duration // one request attempt
	log         *slog.Logger
	now         func() time.Time
	meta        map[string]string // on every object: kansa-owner
	owner       string

	// plainPut is set once the server has answered a conditional write
	// with 501: from then on, Put overwrites.
	plainPut atomic.Bool
}

var _ objstore.Store = (*Store)(nil)

// New checks cfg, builds the S3 client and, unless cfg.SkipBucketCheck,
// checks that the bucket exists and the credentials reach it. log receives
// the store's rare warnings; nil discards them.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{bucket: cfg.Bucket, partSize: cfg.PartSize, concurrency: cfg.Concurrency,
		timeout: cfg.RequestTimeout, log: log, now: time.Now, owner: cfg.Owner}
	if cfg.Owner != "" {
		s.meta = map[string]string{ownerKey: cfg.Owner}
	}
	if err := s.configure(&cfg); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}

	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			r := retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				// The SDK's client-side retry quota would turn a long outage
				// into "retry quota exceeded" errors; the batcher paces
				// retries of whole batches itself.
				o.RateLimiter = ratelimit.None
			})
			// AWS answers 409 to a conditional write that races another
			// one for the same key; trying again gets the 412 or success.
			return retry.AddWithErrorCodes(r, "ConditionalRequestConflict")
		}),
		config.WithHTTPClient(awshttp.NewBuildableClient().
			WithTimeout(s.timeout).
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = min(s.timeout, 10*time.Second) }).
			WithTransportOptions(func(t *http.Transport) {
				t.ResponseHeaderTimeout = min(s.timeout, 30*time.Second)
				t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, 2*s.concurrency)
				// Large bodies are sent after the server's 100 Continue, so
				// a refused conditional write is answered before the body;
				// a busy server gets longer than the default second.
				t.ExpectContinueTimeout = 5 * time.Second
			})),
	}
	awsCfg, err := LoadAWSConfig(ctx, cfg.Region, cfg.Profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("s3: no region: set the bucket's region in %s.region or AWS_REGION", cmp.Or(cfg.Setting, "archive.s3"))
		}
		awsCfg.Region = "us-east-1" // what S3-compatible servers expect unless configured otherwise
	}
	// Objects get a CRC32 checksum, checked by the server, unless
	// AWS_REQUEST_CHECKSUM_CALCULATION=when_required turns the SDK's
	// checksums off (for servers that reject them); Object Lock needs one
	// either way.
	if awsCfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired || s.lockMode != "" {
		s.checksum = types.ChecksumAlgorithmCrc32
	}
	pathStyle := cfg.Endpoint != ""
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}
	// The SDK's own messages go to the store's logger, not to stderr.
	awsCfg.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), "store", s.name)
	})
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = pathStyle
		// A multipart object has no checksum of the whole to check on
		// Get (each part's was checked on upload): not worth a warning.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s.name = "s3://" + s.bucket + "/" + s.prefix
	if cfg.Endpoint != "" {
		s.name += " at " + cfg.Endpoint
	}
	if !cfg.SkipBucketCheck {
		if err := s.checkBucket(ctx, awsCfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// LoadAWSConfig loads the AWS SDK's configuration (environment, shared
// files, the standard credentials chain) with region and profile when they
// are set, and opts.
func LoadAWSConfig(ctx context.Context, region, profile string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	c, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return c, fmt.Errorf("load AWS config: %w", err)
	}
	return c, nil
}

// configure checks cfg, fills in its defaults and copies it into s.
func (s *Store) configure(cfg *Config) error {
	if cfg.Bucket == "" {
		return errors.New("bucket is required")
	}
	s.setting = cmp.Or(cfg.Setting, "archive.s3")
	if cfg.Prefix = strings.Trim(cfg.Prefix, "/"); cfg.Prefix != "" {
		if err := objstore.CheckKey(cfg.Prefix); err != nil {
			return fmt.Errorf("prefix: %w", err)
		}
		s.prefix = cfg.Prefix + "/"
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q: give a URL such as http://127.0.0.1:9000 or https://s3.example.com", cfg.Endpoint)
		}
	}
	switch cfg.SSE {
	case "":
	case "AES256":
		s.sse = types.ServerSideEncryptionAes256
	case "aws:kms":
		s.sse = types.ServerSideEncryptionAwsKms
	default:
		return fmt.Errorf("sse %q: use \"\" (the bucket's default), \"AES256\" or \"aws:kms\"", cfg.SSE)
	}
	if cfg.KMSKeyID != "" {
		if s.sse != types.ServerSideEncryptionAwsKms {
			return errors.New("kms_key_id is set: it needs sse \"aws:kms\"")
		}
		s.kmsKeyID = aws.String(cfg.KMSKeyID)
	}
	switch strings.ToUpper(cfg.ObjectLock.Mode) {
	case "":
		if cfg.ObjectLock.Days != 0 {
			return errors.New("object_lock.days is set without object_lock.mode: set mode GOVERNANCE or COMPLIANCE")
		}
	case "GOVERNANCE":
		s.lockMode = types.ObjectLockModeGovernance
	case "COMPLIANCE":
		s.lockMode = types.ObjectLockModeCompliance
	default:
		return fmt.Errorf("object_lock.mode %q: use GOVERNANCE or COMPLIANCE", cfg.ObjectLock.Mode)
	}
	if s.lockMode != "" && cfg.ObjectLock.Days < 1 {
		return fmt.Errorf("object_lock.days %d: objects must be retained at least 1 day", cfg.ObjectLock.Days)
	}
	s.lockDays = cfg.ObjectLock.Days
	switch {
	case s.partSize == 0:
		s.partSize = DefaultPartSize
	case s.partSize < MinPartSize || s.partSize > 5<<30:
		return fmt.Errorf("part_size %d: S3 takes 5 MiB to 5 GiB", cfg.PartSize)
	}
	if s.concurrency == 0 {
		s.concurrency = DefaultConcurrency
	} else if s.concurrency < 0 {
		return fmt.Errorf("concurrency %d: give a positive number", cfg.Concurrency)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	} else if cfg.MaxAttempts < 0 {
		return fmt.Errorf("max_attempts %d: give a positive number", cfg.MaxAttempts)
	}
	if s.timeout == 0 {
		s.timeout = DefaultRequestTimeout
	} else if s.timeout < 0 {
		return fmt.Errorf("request_timeout %s: give a positive duration", cfg.RequestTimeout)
	}
	return nil
}

// checkBucket asks for the bucket with HeadBucket (and for its Object Lock
// configuration when objects are to be locked), turning the answers users
// get wrong into errors that say what to do.
func (s *Store) checkBucket(ctx context.Context, awsCfg aws.Config) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err != nil {
		var (
			status = httpStatus(err)
			source string
		)
		if creds, cerr := awsCfg.Credentials.Retrieve(ctx); cerr == nil {
			source = fmt.Sprintf(" (access key %s from %s)", creds.AccessKeyID, creds.Source)
		}
		var re *smithyhttp.ResponseError
		switch {
		case status == http.StatusNotFound:
			return fmt.Errorf("s3: bucket %q does not exist on %s: create it (aws s3 mb s3://%s, or mc mb), or fix %s.bucket",
				s.bucket, s.server(), s.bucket, s.setting)
		case status == http.StatusForbidden:
			return fmt.Errorf("s3: access to bucket %q denied%s: check the secret key (a wrong one is answered the same way), and that the credentials may s3:ListBucket, s3:GetObject and s3:PutObject on the bucket", s.bucket, source)
		case status == http.StatusMovedPermanently && errors.As(err, &re) && re.Response.Header.Get("X-Amz-Bucket-Region") != "":
			return fmt.Errorf("s3: bucket %q is in region %s, not %s: set %s.region to %[2]s",
				s.bucket, re.Response.Header.Get("X-Amz-Bucket-Region"), awsCfg.Region, s.setting)
		case status == http.StatusMovedPermanently || status == http.StatusBadRequest:
			return fmt.Errorf("s3: bucket %q: %w (is %s.region %q the bucket's region?)", s.bucket, err, s.setting, awsCfg.Region)
		case status == 0 && awsCfg.Credentials != nil && source == "":
			return fmt.Errorf("s3: check bucket %q: %w (no AWS credentials found? set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or a role)", s.bucket, err)
		default:
			hint := " skip_bucket_check starts without this check."
			if strings.HasPrefix(s.setting, "inputs.") {
				hint = "" // an input starts again until it can read
			}
			return fmt.Errorf("s3: check bucket %q on %s: %w (is the server up and the endpoint right?%s)", s.bucket, s.server(), err, hint)
		}
	}
	if s.lockMode != "" {
		out, err := s.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &s.bucket})
		if err == nil && (out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled) {
			err = errors.New("not enabled")
		}
		if err != nil {
			return fmt.Errorf("s3: object_lock is set, but bucket %q has no Object Lock (%v): Object Lock is chosen when a bucket is created (aws s3api create-bucket --object-lock-enabled-for-bucket, mc mb --with-lock); use such a bucket or drop object_lock", s.bucket, err)
		}
	}
	return nil
}

func (s *Store) server() string {
	if _, at, ok := strings.Cut(s.name, " at "); ok {
		return at
	}
	return "AWS S3"
}

// String names the store: "s3://bucket/prefix/", plus " at ENDPOINT" for a
// server other than AWS.
func (s *Store) String() string { return s.name }

// Client returns the store's S3 client, for tests and tools that need more
// than the Store interface.
func (s *Store) Client() *s3.Client { return s.client }

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// ConditionalWrites reports whether Put still sends If-None-Match (false
// once the server has answered that it does not support it).
func (s *Store) ConditionalWrites() bool { return !s.plainPut.Load() }

// Put stores data under key. See the package documentation for how it
// handles an object already there.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	full := s.prefix + key
	cond := !s.plainPut.Load()
	err := s.upload(ctx, full, data, cond)
	switch {
	case err == nil:
		return nil
	case cond && httpStatus(err) == http.StatusPreconditionFailed:
		return s.same(ctx, key, data)
	case cond && httpStatus(err) == 0 && ctx.Err() == nil && s.exists(ctx, full):
		// No answer, but an object is there: a server may refuse a
		// conditional PutObject (412) before it has read the body and
		// close the connection, which the client sees as a reset; or our
		// own write landed and its answer was lost. What is there decides.
		return s.same(ctx, key, data)
	case cond && notImplemented(err):
		// Try without the condition: if that works, the condition was
		// what the server did not implement. A multipart upload has
		// done that already.
		var fb *fellBack
		if !errors.As(err, &fb) {
			if err2 := s.upload(ctx, full, data, false); err2 != nil {
				return fmt.Errorf("put %s: %w", key, err2)
			}
		}
		if !s.plainPut.Swap(true) {
			s.log.Warn("the S3 server does not support conditional writes (If-None-Match); objects are overwritten from now on, so two collectors sharing a writer id would go unnoticed",
				"store", s.name, "error", err)
		}
		return nil
	default:
		return fmt.Errorf("put %s: %w", key, err)
	}
}

// exists reports whether an object is under the full key.
func (s *Store) exists(ctx context.Context, full string) bool {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &full})
	return err == nil
}

// ownerKey is the user metadata naming the collector that wrote an
// object (x-amz-meta-kansa-owner).
const ownerKey = "kansa-owner"

// same is Put's answer when an object was already under key: nil if it
// holds data; the object replaced if this store's owner wrote it;
// ErrConflict if not.
func (s *Store) same(ctx context.Context, key string, data []byte) error {
	have, err := s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("put %s: an object is already there, and reading it failed: %w", key, err)
	}
	if !bytes.Equal(have, data) && s.owner != "" {
		head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
		if err != nil {
			return fmt.Errorf("put %s: an object with other bytes is already there, and reading its metadata failed: %w", key, err)
		}
		if head.Metadata[ownerKey] == s.owner {
			// A batch is rebuilt with the same keys after a restart; an
			// upgrade or a new gzip level can change its bytes. The
			// manifest, written last, is replaced with the files.
			s.log.Warn("replacing an object this collector wrote before with other bytes (a batch rebuilt after a restart with another version or gzip level)",
				"store", s.name, "key", key, "bytes_there", len(have), "bytes_now", len(data))
			if err := s.upload(ctx, s.prefix+key, data, false); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		}
	}
	if !bytes.Equal(have, data) {
		return fmt.Errorf("put %s: %w (%d bytes there, %d to write): two collectors with the same writer id? Give each its own. "+
			"If the object was written by this collector before its data directory was replaced, delete the object to let it be written again",
			key, ErrConflict, len(have), len(data))
	}
	s.log.Debug("object already stored with the same bytes (a retry)", "store", s.name, "key", key)
	return nil
}

// upload stores data under the full key, in one PutObject or in parts.
func (s *Store) upload(ctx context.Context, full string, data []byte, cond bool) error {
	var ifNoneMatch *string
	if cond {
		ifNoneMatch = aws.String("*")
	}
	var retain *time.Time
	if s.lockMode != "" {
		retain = aws.Time(s.now().Add(time.Duration(s.lockDays) * 24 * time.Hour).UTC())
	}
	if int64(len(data)) <= s.partSize {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:                    &s.bucket,
			Key:                       &full,
			Body:                      bytes.NewReader(data),
			ContentLength:             aws.Int64(int64(len(data))),
			IfNoneMatch:               ifNoneMatch,
			ChecksumAlgorithm:         s.checksum,
			ServerSideEncryption:      s.sse,
			SSEKMSKeyId:               s.kmsKeyID,
			ObjectLockMode:            s.lockMode,
			ObjectLockRetainUntilDate: retain,
			Metadata:                  s.meta,
		})
		return err
	}
	return s.uploadParts(ctx, full, data, ifNoneMatch, retain)
}

// uploadParts stores data in a multipart upload, s.concurrency parts at a
// time, and aborts the upload if any step fails.
func (s *Store) uploadParts(ctx context.Context, full string, data []byte, ifNoneMatch *string, retain *time.Time) error {
	partSize := max(s.partSize, (int64(len(data))+maxParts-1)/maxParts)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:                    &s.bucket,
		Key:                       &full,
		ChecksumAlgorithm:         s.checksum,
		ServerSideEncryption:      s.sse,
		SSEKMSKeyId:               s.kmsKeyID,
		ObjectLockMode:            s.lockMode,
		ObjectLockRetainUntilDate: retain,
		Metadata:                  s.meta,
	})
	if err != nil {
		return fmt.Errorf("start multipart upload: %w", err)
	}
	id := created.UploadId
	n := int((int64(len(data)) + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var firstErr atomic.Pointer[error]
	next := make(chan int)
	done := make(chan struct{})
	workers := min(s.concurrency, n)
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range next {
				lo := int64(i) * partSize
				hi := min(lo+partSize, int64(len(data)))
				out, err := s.client.UploadPart(pctx, &s3.UploadPartInput{
					Bucket:            &s.bucket,
					Key:               &full,
					UploadId:          id,
					PartNumber:        aws.Int32(int32(i + 1)),
					Body:              bytes.NewReader(data[lo:hi]),
					ContentLength:     aws.Int64(hi - lo),
					ChecksumAlgorithm: s.checksum,
				})
				if err != nil {
					err = fmt.Errorf("upload part %d of %d: %w", i+1, n, err)
					if firstErr.CompareAndSwap(nil, &err) {
						cancel()
					}
					continue
				}
				parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-pctx.Done():
			break feed
		}
	}
	close(next)
	for range workers {
		<-done
	}
	if p := firstErr.Load(); p != nil || ctx.Err() != nil {
		err := ctx.Err()
		if p != nil {
			err = *p
		}
		return s.abort(ctx, full, id, err)
	}

	complete := &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             &full,
		UploadId:        id,
		IfNoneMatch:     ifNoneMatch,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	_, err = s.client.CompleteMultipartUpload(ctx, complete)
	if err != nil && ifNoneMatch != nil && notImplemented(err) {
		// The upload is still open: complete it without the condition
		// and let Put learn from the first answer.
		complete.IfNoneMatch = nil
		if _, err2 := s.client.CompleteMultipartUpload(ctx, complete); err2 == nil {
			return &fellBack{err}
		}
	}
	if err != nil {
		return s.abort(ctx, full, id, err)
	}
	return nil
}

// fellBack is uploadParts' answer when the server did not implement the
// conditional CompleteMultipartUpload and the plain one stored the object.
type fellBack struct{ cause error }

func (e *fellBack) Error() string { return e.cause.Error() }
func (e *fellBack) Unwrap() error { return e.cause }

// abort ends a failed multipart upload so that its parts are not kept (and
// billed), even when ctx is what ended it, and returns cause.
func (s *Store) abort(ctx context.Context, full string, id *string, cause error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &full, UploadId: id}); err != nil {
		s.log.Warn("could not abort a failed multipart upload; its parts stay until a lifecycle rule (AbortIncompleteMultipartUpload) removes them",
			"store", s.name, "key", full, "upload_id", aws.ToString(id), "error", err)
	}
	return cause
}

// Get returns the object's bytes, or an error wrapping objstore.ErrNotExist.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := objstore.CheckKey(key); err != nil {
		return nil, err
	}
	full := s.prefix + key
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &full})
	if err != nil {
		return nil, getError("get "+key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, fmt.Errorf("get %s: read: %w", key, err)
	}
	return buf.Bytes(), nil
}

// getError says what a GET (what) met: objstore.ErrNotExist for a missing
// key, the error itself otherwise.
func getError(what string, err error) error {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound && !isNoSuchBucket(err) {
		return fmt.Errorf("%s: %w", what, objstore.ErrNotExist)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// GetRange implements objstore.Ranger with a ranged GET.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64, buf []byte) ([]byte, error) {
	if err := objstore.CheckKey(key); err != nil {
		return buf, err
	}
	if n <= 0 {
		return buf, nil
	}
	full := s.prefix + key
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &full, Range: &rng})
	if err != nil {
		return buf, getError("get "+key+" "+rng, err)
	}
	defer out.Body.Close()
	start := len(buf)
	buf = slices.Grow(buf, int(n))[:start+int(n)]
	if _, err := io.ReadFull(out.Body, buf[start:]); err != nil {
		return buf[:start], fmt.Errorf("get %s %s: read: %w", key, rng, err)
	}
	return buf, nil
}

// Delete removes the object (S3 answers success for a missing key). Under
// Object Lock, an object still in its retention period is refused.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	full := s.prefix + key
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &full}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List calls fn for every key under prefix, in lexical order, a page of up
// to 1000 keys at a time.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || objstore.CheckKey(key) != nil {
				continue // not the store's: "folder/" markers, keys with empty elements
			}
			if err := fn(key, aws.ToInt64(o.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// httpStatus returns the HTTP status of a failed request's answer, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// notImplemented reports whether the server said it does not implement
// something the request asked for.
func notImplemented(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotImplemented", "NotSupported":
			return true
		}
	}
	return httpStatus(err) == http.StatusNotImplemented
}

func isNoSuchBucket(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket"
}
