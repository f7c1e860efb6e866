package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/kansa-audit/kansa/internal/objstore"
)

// endpoint returns the S3 server the integration tests use: the MinIO that
// scripts/test.sh (or scripts/minio.sh) started.
func endpoint(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs an S3 server (MinIO); skipped with -short")
	}
	ep := os.Getenv("KANSA_TEST_S3_ENDPOINT")
	if ep == "" {
		t.Fatal(`KANSA_TEST_S3_ENDPOINT is not set: run bash scripts/test.sh, or start MinIO with eval "$(bash scripts/minio.sh start)" and run go test again`)
	}
	return ep
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newStore returns a store on the test server with cfg (Endpoint filled in).
func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Endpoint == "" {
		cfg.Endpoint = endpoint(t)
	}
	s, err := New(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newBucket makes a bucket with a random name, with Object Lock if lock,
// and removes it and everything in it when the test ends.
func newBucket(t testing.TB, lock bool) string {
	t.Helper()
	admin := newStore(t, Config{Bucket: "unused", SkipBucketCheck: true}).Client()
	name := "kansa-test-" + strings.ToLower(rand.Text()[:16])
	in := &s3.CreateBucketInput{Bucket: &name}
	if lock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := admin.CreateBucket(t.Context(), in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() { removeBucket(t, admin, name) })
	return name
}

// removeBucket deletes every version and upload in bucket, then the bucket.
// Objects under COMPLIANCE retention cannot go; the test server's directory
// goes with them.
func removeBucket(t testing.TB, c *s3.Client, bucket string) {
	ctx := context.Background()
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err == nil {
		for _, u := range uploads.Uploads {
			c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
		}
	}
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("cleanup: list versions in %s: %v", bucket, err)
			return
		}
		type kv struct{ key, version *string }
		var all []kv
		for _, v := range page.Versions {
			all = append(all, kv{v.Key, v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			all = append(all, kv{m.Key, m.VersionId})
		}
		for _, o := range all {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.key, VersionId: o.version,
				BypassGovernanceRetention: aws.Bool(true)}); err != nil {
				t.Logf("cleanup: delete %s: %v", aws.ToString(o.key), err)
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Logf("cleanup: delete bucket %s: %v", bucket, err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func apiError(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return code, httpStatus(err)
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "bucket is required"},
		{Config{Bucket: "b", SSE: "aes256"}, `sse "aes256"`},
		{Config{Bucket: "b", KMSKeyID: "k"}, "needs sse"},
		{Config{Bucket: "b", SSE: "AES256", KMSKeyID: "k"}, "needs sse"},
		{Config{Bucket: "b", ObjectLock: ObjectLock{Days: 3}}, "without object_lock.mode"},
		{Config{Bucket: "b", ObjectLock: ObjectLock{Mode: "GOVERNANCE"}}, "at least 1 day"},
		{Config{Bucket: "b", ObjectLock: ObjectLock{Mode: "LEGAL", Days: 1}}, "GOVERNANCE or COMPLIANCE"},
		{Config{Bucket: "b", PartSize: 1 << 20}, "5 MiB to 5 GiB"},
		{Config{Bucket: "b", Endpoint: "127.0.0.1:9000"}, "give a URL"},
		{Config{Bucket: "b", Prefix: "a//b"}, "prefix"},
		{Config{Bucket: "b", Prefix: "a/../b"}, "prefix"},
		{Config{Bucket: "b", MaxAttempts: -1}, "max_attempts"},
		{Config{Bucket: "b", RequestTimeout: -time.Second}, "request_timeout"},
	} {
		_, err := New(t.Context(), c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, false)
	s := newStore(t, Config{Bucket: bucket, Prefix: "/kansa/archive/"})
	if got, want := s.String(), "s3://"+bucket+"/kansa/archive/ at "+endpoint(t); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	objects := map[string][]byte{
		"tenant=a%2Fb/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz": []byte("escaped slash"),
		"tenant=acme/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz":  []byte("acme"),
		"tenant=%E6%9D%B1%E4%BA%AC/x":                                   []byte("tokyo, escaped"),
		"tenant=東京/x":                                                   []byte("tokyo, raw UTF-8"),
		"_kansa/manifests/writer=w1/1-2.json":                           []byte(`{"version":1}`),
		"a b/+&?#=.json":                                                []byte("characters that need escaping in a URL"),
		"empty":                                                         {},
		"Z":                                                             []byte("upper case sorts first"),
		"a/b":                                                           []byte("a/b"),
		"a-b":                                                           []byte("a-b sorts before a/b"),
	}
	for k, v := range objects {
		if err := s.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range objects {
		got, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, v) {
			t.Errorf("Get(%q) = %q, want %q", k, got, v)
		}
	}
	k := "tenant=acme/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz"
	if got, err := s.GetRange(ctx, k, 1, 2, []byte("x")); err != nil || string(got) != "xcm" {
		t.Errorf("GetRange(%q, 1, 2) = %q, %v; want \"xcm\"", k, got, err)
	}
	if got, err := objstore.GetRange(ctx, s, "a b/+&?#=.json", 0, 10, nil); err != nil || string(got) != "characters" {
		t.Errorf("GetRange = %q, %v", got, err)
	}
	if _, err := s.GetRange(ctx, "nope", 0, 1, nil); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("GetRange of a missing key = %v, want ErrNotExist", err)
	}

	// The keys really are under the prefix, and a "folder" object made by
	// a console is not one of the store's keys.
	c := s.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("kansa/archive/folder/"), Body: bytes.NewReader(nil)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("kansa/archive/tenant=a%2Fb/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz")}); err != nil {
		t.Errorf("the object is not under the prefix: %v", err)
	}

	list := func(prefix string) (keys []string) {
		t.Helper()
		err := s.List(ctx, prefix, func(k string, size int64) error {
			if size != int64(len(objects[k])) {
				t.Errorf("List: %s has size %d, want %d", k, size, len(objects[k]))
			}
			keys = append(keys, k)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var want []string
	for k := range objects {
		want = append(want, k)
	}
	slices.Sort(want) // Go's string order is the byte order S3 lists in
	if got := list(""); !slices.Equal(got, want) {
		t.Errorf("List(\"\") =\n%q\nwant\n%q", got, want)
	}
	if got, want := list("tenant=a"), []string{"tenant=a%2Fb/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz", "tenant=acme/year=2024/month=08/day=07/kansa-w1-1-2.ndjson.gz"}; !slices.Equal(got, want) {
		t.Errorf("List(tenant=a) = %q, want %q", got, want)
	}
	if got := list("nothing/"); len(got) != 0 {
		t.Errorf("List(nothing/) = %q", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.List(ctx, "", func(string, int64) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("List with fn failing: %v after %d calls, want stop after 1", err, n)
	}

	// A store without the prefix sees the same objects under it.
	root := newStore(t, Config{Bucket: bucket})
	got, err := root.Get(ctx, "kansa/archive/a-b")
	if err != nil || string(got) != string(objects["a-b"]) {
		t.Errorf("Get through the bucket's root: %q, %v", got, err)
	}
}

func TestBadKeysAndMissing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t, Config{Bucket: newBucket(t, false)})
	for _, k := range []string{"", "/abs", "a//b", "../x", "a/./b", "a\\b", "x/"} {
		if err := s.Put(ctx, k, []byte("x")); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
		if _, err := s.Get(ctx, k); err == nil {
			t.Errorf("Get(%q) accepted", k)
		}
	}
	_, err := s.Get(ctx, "tenant=acme/missing")
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get of a missing key: %v, want ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "tenant=acme/missing") {
		t.Errorf("error %q does not name the key", err)
	}

	// A missing bucket is not a missing object.
	gone := newStore(t, Config{Bucket: "kansa-test-no-such-bucket", SkipBucketCheck: true})
	if _, err := gone.Get(ctx, "x"); err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Get from a missing bucket: %v, want an error that is not ErrNotExist", err)
	}
}

func TestNewChecksBucket(t *testing.T) {
	t.Parallel()
	ep := endpoint(t)
	_, err := New(t.Context(), Config{Bucket: "kansa-test-no-such-bucket", Endpoint: ep}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "mb") {
		t.Errorf("New with a missing bucket: %v", err)
	}
	bucket := newBucket(t, false)
	_, err = New(t.Context(), Config{Bucket: bucket, Endpoint: ep, ObjectLock: ObjectLock{Mode: "GOVERNANCE", Days: 1}}, nil)
	if err == nil || !strings.Contains(err.Error(), "has no Object Lock") {
		t.Errorf("New with object_lock on a bucket without it: %v", err)
	}
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t, Config{Bucket: newBucket(t, false), Prefix: "p"})
	key := "tenant=acme/year=2024/kansa-w1-00000000000000000001-00000000000000000009.ndjson.gz"
	first := []byte("the batch")
	if err := s.Put(ctx, key, first); err != nil {
		t.Fatal(err)
	}
	// A retry: the same bytes again.
	if err := s.Put(ctx, key, first); err != nil {
		t.Fatalf("re-put of the same bytes: %v", err)
	}
	if !s.ConditionalWrites() {
		t.Fatal("the server (MinIO) supports If-None-Match, yet the store fell back to plain writes")
	}
	// Another collector with the same writer id: different bytes.
	err := s.Put(ctx, key, []byte("another batch"))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("re-put of different bytes: %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "writer id") {
		t.Errorf("error %q does not name the key and the likely cause", err)
	}
	if got, _ := s.Get(ctx, key); !bytes.Equal(got, first) {
		t.Errorf("the conflicting put changed the object: %q", got)
	}
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, false)
	s := newStore(t, Config{Bucket: bucket, PartSize: MinPartSize})
	data := randomBytes(40 << 20)
	if err := s.Put(ctx, "big", data); err != nil {
		t.Fatal(err)
	}
	head, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart object's ETag ends in -<number of parts>.
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-8") {
		t.Errorf("ETag %s: want 8 parts of 5 MiB", etag)
	}
	got, err := s.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the object read back differs from what was put")
	}

	// Retry and collision go through CompleteMultipartUpload's condition.
	if err := s.Put(ctx, "big", data); err != nil {
		t.Fatalf("re-put of the same 40 MiB: %v", err)
	}
	other := bytes.Clone(data)
	other[len(other)-1] ^= 1
	if err := s.Put(ctx, "big", other); !errors.Is(err, ErrConflict) {
		t.Fatalf("re-put of different 40 MiB: %v, want ErrConflict", err)
	}
	// Both refused uploads were aborted: no parts left behind.
	ups, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(ups.Uploads))
	}
}

// notImplementedProxy forwards to the test server, except that it answers
// writes carrying If-None-Match as a server without conditional writes
// does: 501 NotImplemented. It counts multipart uploads started.
func notImplementedProxy(t *testing.T, creates *atomic.Int32) string {
	target, err := url.Parse(endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host header the client signed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message><Resource>%s</Resource><RequestId>t</RequestId></Error>`, r.URL.Path)
			return
		}
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			creates.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestFallbackWithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, false)
	var creates atomic.Int32
	ep := notImplementedProxy(t, &creates)

	s := newStore(t, Config{Bucket: bucket, Endpoint: ep})
	if err := s.Put(ctx, "k", []byte("one")); err != nil {
		t.Fatalf("Put on a server without conditional writes: %v", err)
	}
	if s.ConditionalWrites() {
		t.Error("the store did not notice the 501")
	}
	// Without the condition, a put overwrites: retries still work, the
	// collision check is gone.
	if err := s.Put(ctx, "k", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "two" {
		t.Errorf("Get = %q, %v; want the overwritten object", got, err)
	}

	// A multipart upload whose conditional completion is refused is
	// completed without the condition, not uploaded again.
	m := newStore(t, Config{Bucket: bucket, Endpoint: ep, PartSize: MinPartSize})
	data := randomBytes(6 << 20)
	if err := m.Put(ctx, "big", data); err != nil {
		t.Fatal(err)
	}
	if m.ConditionalWrites() {
		t.Error("the store did not notice the 501 to CompleteMultipartUpload")
	}
	if n := creates.Load(); n != 1 {
		t.Errorf("%d multipart uploads started, want 1", n)
	}
	if got, err := m.Get(ctx, "big"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get of the multipart object: %d bytes, %v", len(got), err)
	}
}

func TestSSE(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, false)
	kmsKey := os.Getenv("KANSA_TEST_S3_KMS_KEY") // the key scripts/minio.sh gives MinIO's KMS
	for _, c := range []struct {
		name, sse, key string
	}{
		{"SSE-S3", "AES256", ""},
		{"SSE-KMS default key", "aws:kms", ""},
		{"SSE-KMS named key", "aws:kms", kmsKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "SSE-KMS named key" && kmsKey == "" {
				t.Skip("KANSA_TEST_S3_KMS_KEY is not set")
			}
			s := newStore(t, Config{Bucket: bucket, Prefix: c.name, SSE: c.sse, KMSKeyID: c.key, PartSize: MinPartSize})
			for _, size := range []int{1000, 6 << 20} { // one PutObject, then a multipart upload
				data := randomBytes(size)
				if err := s.Put(ctx, "obj", data); err != nil {
					t.Fatal(err)
				}
				head, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(c.name + "/obj")})
				if err != nil {
					t.Fatal(err)
				}
				if string(head.ServerSideEncryption) != c.sse {
					t.Errorf("%d bytes: ServerSideEncryption %q, want %q", size, head.ServerSideEncryption, c.sse)
				}
				if c.key != "" && !strings.HasSuffix(aws.ToString(head.SSEKMSKeyId), c.key) {
					t.Errorf("%d bytes: SSEKMSKeyId %q, want %q", size, aws.ToString(head.SSEKMSKeyId), c.key)
				}
				got, err := s.Get(ctx, "obj")
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%d bytes: read back %d bytes, %v", size, len(got), err)
				}
				// The retry check reads the encrypted object.
				if err := s.Put(ctx, "obj", data); err != nil {
					t.Fatalf("re-put: %v", err)
				}
				s.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(c.name + "/obj")})
			}
		})
	}
}

func TestObjectLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, true)
	s := newStore(t, Config{Bucket: bucket, ObjectLock: ObjectLock{Mode: "GOVERNANCE", Days: 1}, PartSize: MinPartSize})
	for _, c := range []struct {
		key  string
		size int
	}{{"small", 100}, {"multipart", 6 << 20}} {
		before := time.Now()
		data := randomBytes(c.size)
		if err := s.Put(ctx, c.key, data); err != nil {
			t.Fatal(err)
		}
		head, err := s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &c.key})
		if err != nil {
			t.Fatal(err)
		}
		if head.ObjectLockMode != types.ObjectLockModeGovernance {
			t.Errorf("%s: lock mode %q", c.key, head.ObjectLockMode)
		}
		until := aws.ToTime(head.ObjectLockRetainUntilDate)
		if lo, hi := before.Add(24*time.Hour-time.Minute), time.Now().Add(24*time.Hour+time.Minute); until.Before(lo) || until.After(hi) {
			t.Errorf("%s: retained until %s, want a day from now", c.key, until)
		}
		// The retention holds: deleting this version is refused. MinIO
		// answers 400 InvalidRequest, AWS 403 AccessDenied.
		_, err = s.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &c.key, VersionId: head.VersionId})
		code, status := apiError(err)
		if !(status == http.StatusBadRequest && code == "InvalidRequest") && !(status == http.StatusForbidden && code == "AccessDenied") {
			t.Errorf("%s: delete of a retained version: %v (status %d, code %q), want 400 InvalidRequest or 403 AccessDenied", c.key, err, status, code)
		}
		t.Logf("%s: delete of a retained version answered %d %s", c.key, status, code)
		if got, err := s.Get(ctx, c.key); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: after the refused delete: %d bytes, %v", c.key, len(got), err)
		}
		// A retry is still a success.
		if err := s.Put(ctx, c.key, data); err != nil {
			t.Errorf("%s: re-put: %v", c.key, err)
		}
	}
}

// TestServerDown: a server that does not answer, or is not there, fails a
// call within the configured time, with the retries, instead of hanging.
func TestServerDown(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	// A port with nothing on it.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln2.Addr().String()
	ln2.Close()

	for _, c := range []struct {
		name, addr string
		limit      time.Duration
	}{
		// 2 attempts of at most 1 s each and a backoff of at most 2 s;
		// the rest is slack for a machine busy with -race.
		{"hung", ln.Addr().String(), 12 * time.Second},
		{"refused", refused, 8 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Bucket: "b", Endpoint: "http://" + c.addr, RequestTimeout: time.Second, MaxAttempts: 2}
			timed := func(what string, f func() error) error {
				t.Helper()
				start := time.Now()
				err := f()
				if d := time.Since(start); d > c.limit {
					t.Errorf("%s took %s, want at most %s", what, d, c.limit)
				}
				if err == nil {
					t.Errorf("%s succeeded on a server that is down", what)
				}
				return err
			}
			err := timed("New", func() error { _, err := New(t.Context(), cfg, nil); return err })
			if err == nil || !strings.Contains(err.Error(), "is the server up") {
				t.Errorf("New: %v, want an error asking whether the server is up", err)
			}
			cfg.SkipBucketCheck = true
			s, err := New(t.Context(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = timed("Put", func() error { return s.Put(t.Context(), "k", []byte("x")) })
			t.Logf("Put: %v", err)
			timed("Get", func() error { _, err := s.Get(t.Context(), "k"); return err })
			timed("List", func() error { return s.List(t.Context(), "", func(string, int64) error { return nil }) })
		})
	}
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		s, err := New(t.Context(), Config{Bucket: "b", Endpoint: "http://" + ln.Addr().String(), SkipBucketCheck: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Put(ctx, "k", randomBytes(7<<20)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Put with a cancelled context: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Put took %s after its context ended", d)
		}
	})
}

// TestOutage runs a MinIO of its own with scripts/minio.sh (not the shared
// one, which other packages' tests use at the same time), pauses it and
// resumes it: puts fail while it is down, and everything is there after.
func TestOutage(t *testing.T) {
	endpoint(t)
	script, err := filepath.Abs("../../../scripts/minio.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Stderr = t.Output()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("minio.sh %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	exports := run("start", dir)
	t.Cleanup(func() { run("stop", dir) })
	// export K='v'; export K2='v2' — values made by the script, without quotes in them.
	env := map[string]string{}
	for _, e := range strings.Split(strings.TrimSpace(exports), ";") {
		k, v, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(e), "export "), "=")
		env[k] = strings.Trim(v, "'")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])

	admin := newStore(t, Config{Bucket: "unused", Endpoint: env["KANSA_TEST_S3_ENDPOINT"], SkipBucketCheck: true}).Client()
	if _, err := admin.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("outage")}); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{Bucket: "outage", Endpoint: env["KANSA_TEST_S3_ENDPOINT"], RequestTimeout: 2 * time.Second, MaxAttempts: 2})
	ctx := t.Context()
	if err := s.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	run("pause", dir)
	start := time.Now()
	if err := s.Put(ctx, "during", []byte("2")); err == nil {
		t.Fatal("Put succeeded while the server was down")
	} else {
		t.Logf("Put while down (%s): %v", time.Since(start).Round(time.Millisecond), err)
	}
	run("resume", dir)
	// What the batcher does: retry until it works.
	if err := s.Put(ctx, "during", []byte("2")); err != nil {
		t.Fatalf("Put after resume: %v", err)
	}
	var keys []string
	s.List(ctx, "", func(k string, _ int64) error { keys = append(keys, k); return nil })
	if !slices.Equal(keys, []string{"before", "during"}) {
		t.Errorf("after the outage: %q", keys)
	}
}

// TestMain gives the tests that run without MinIO (a server that is down, a
// cancelled upload) credentials, so that they reach the network as a
// configured kansa would instead of failing in the credential chain, and
// keeps the chain off the EC2 metadata endpoint.
func TestMain(m *testing.M) {
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		os.Setenv("AWS_ACCESS_KEY_ID", "kansa-test")
		os.Setenv("AWS_SECRET_ACCESS_KEY", "kansa-test-secret")
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

// TestOwnerReplacesOwnObject: a collector that rebuilds a batch after a
// restart with another version may encode it differently; its own objects
// (the same owner id) are replaced, in one PutObject or in parts, while
// another owner's, or objects with no owner, stay and give ErrConflict.
func TestOwnerReplacesOwnObject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bucket := newBucket(t, false)
	mine := newStore(t, Config{Bucket: bucket, Owner: "d-mine", PartSize: 5 << 20})
	theirs := newStore(t, Config{Bucket: bucket, Owner: "d-theirs"})
	nobody := newStore(t, Config{Bucket: bucket})
	for _, size := range []int{100, 12 << 20} { // one PutObject, a multipart upload
		key := fmt.Sprintf("batch-%d", size)
		old, rebuilt := randomBytes(size), randomBytes(size)
		if err := mine.Put(ctx, key, old); err != nil {
			t.Fatal(err)
		}
		if err := theirs.Put(ctx, key, randomBytes(size)); !errors.Is(err, ErrConflict) {
			t.Fatalf("%d bytes: another owner's put: %v, want ErrConflict", size, err)
		}
		if err := nobody.Put(ctx, key, randomBytes(size)); !errors.Is(err, ErrConflict) {
			t.Fatalf("%d bytes: a put with no owner: %v, want ErrConflict", size, err)
		}
		if got, _ := mine.Get(ctx, key); !bytes.Equal(got, old) {
			t.Fatalf("%d bytes: a conflicting put changed the object", size)
		}
		if err := mine.Put(ctx, key, rebuilt); err != nil {
			t.Fatalf("%d bytes: the owner's rebuilt batch: %v", size, err)
		}
		if got, _ := mine.Get(ctx, key); !bytes.Equal(got, rebuilt) {
			t.Fatalf("%d bytes: the owner's put did not replace its object", size)
		}
		head, err := mine.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil || head.Metadata["kansa-owner"] != "d-mine" {
			t.Fatalf("%d bytes: metadata %v (%v), want kansa-owner d-mine", size, head.Metadata, err)
		}
	}
}
