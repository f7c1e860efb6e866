package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore/s3store"
)

// privateMinIO runs a MinIO of the test's own (scripts/minio.sh), which it
// may pause, and returns its endpoint and a function running the script.
func privateMinIO(t *testing.T) (endpoint string, script func(args ...string) string) {
	t.Helper()
	if os.Getenv("KANSA_TEST_S3_ENDPOINT") == "" && os.Getenv("KANSA_TEST_MINIO") == "" {
		if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".cache/kansa/bin/minio")); err != nil {
			t.Fatal(`MinIO is not set up: run bash scripts/test.sh, or eval "$(bash scripts/minio.sh start)"`)
		}
	}
	path, _ := filepath.Abs("../../scripts/minio.sh")
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{path}, args...)...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("minio.sh %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	env := map[string]string{}
	for _, e := range strings.Split(strings.TrimSpace(run("start", dir)), ";") {
		k, v, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(e), "export "), "=")
		env[k] = strings.Trim(v, "'")
	}
	t.Cleanup(func() { run("stop", dir) })
	t.Setenv("AWS_ACCESS_KEY_ID", env["AWS_ACCESS_KEY_ID"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["AWS_SECRET_ACCESS_KEY"])
	t.Setenv("AWS_REGION", "us-east-1")
	return env["KANSA_TEST_S3_ENDPOINT"], func(args ...string) string { return run(append(args, dir)...) }
}

// TestS3OutageAndKill streams events into kansa serve archiving to MinIO
// (gzip NDJSON and Parquet); MinIO goes away for 30 s mid-stream, then
// kansa is SIGKILLed while batches are being uploaded and restarted.
// Every acknowledged event is in the bucket exactly once, and no object
// was written twice with different bytes; each source's events were
// delivered in the order kansa accepted them.
func TestS3OutageAndKill(t *testing.T) {
	needBinary(t)
	endpoint, minio := privateMinIO(t)
	ctx := context.Background()
	st, err := s3store.New(ctx, s3store.Config{Bucket: "audit", Endpoint: endpoint, SkipBucketCheck: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("audit")}); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`archive:
  formats: [ndjson, parquet]
  s3:
    bucket: audit
    prefix: kansa
    endpoint: %s
    max_attempts: 2
    request_timeout: 2s
batch:
  max_interval: 100ms
  max_bytes: 1MiB
`, endpoint))
	data := t.TempDir()
	srv := startServe(t, data, "--config", cfg)

	var acked sync.Map // id → true, once kansa answered 200 for it
	var next atomic.Int64
	var ackedN atomic.Int64
	var requests atomic.Int64
	send := func(url string) bool { // one request of 50 events of one source; false when kansa is gone
		var b strings.Builder
		var ids []string
		source := []string{"app:a", "app:b"}[requests.Add(1)%2]
		for range 50 {
			id := fmt.Sprintf("s3-%d", next.Add(1))
			ids = append(ids, id)
			fmt.Fprintf(&b, `{"schema":"kansa.audit/v1","id":"%s","time":"2024-08-06T18:00:00+09:00","action":"update","actor":{"type":"User","id":"1"},"target":{"type":"Order","id":"%s"},"source":"%s"}`+"\n", id, id, source)
		}
		resp, err := http.Post(url+"/v1/events", "application/x-ndjson", strings.NewReader(b.String()))
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			for _, id := range ids {
				acked.Store(id, true)
			}
			ackedN.Add(int64(len(ids)))
		}
		return true
	}
	stream := func(url string, d time.Duration) { // about 2,500 events/s: a paced producer
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
			if !send(url) {
				return
			}
		}
	}
	stream(srv.url, 2*time.Second)
	minio("pause")
	stream(srv.url, 30*time.Second) // the outage: kansa keeps accepting into its WAL
	// The outage shows in /metrics: failed deliveries and a lag.
	resp, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"kansa_sink_failures_total", "kansa_sink_lag_records"} {
		if v := metricValue(string(metrics), name); v <= 0 {
			t.Errorf("%s = %v during the outage\n%s", name, v, metrics)
		}
	}
	minio("resume")
	stream(srv.url, 3*time.Second)
	srv.kill() // SIGKILL while batches are being uploaded
	t.Logf("acknowledged %d events; killed kansa", ackedN.Load())
	if ackedN.Load() == 0 {
		t.Fatal("kansa acknowledged nothing")
	}

	srv = startServe(t, data, "--config", cfg) // rebuilds the cut batches, uploads the rest
	stream(srv.url, 2*time.Second)
	srv.stop(t)

	view, err := s3store.New(ctx, s3store.Config{Bucket: "audit", Prefix: "kansa", Endpoint: endpoint}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := archivedIn(t, view)
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.ID]++
	}
	missing, dup := 0, 0
	acked.Range(func(k, _ any) bool {
		switch seen[k.(string)] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
		return true
	})
	for id, n := range seen {
		if n > 1 && !strings.HasPrefix(id, "s3-") {
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Fatalf("%d acknowledged events missing, %d more than once, of %d acknowledged", missing, dup, ackedN.Load())
	}
	// In order per source: the archive, read in WAL order, has each
	// source's events in the order they were sent (one request at a time),
	// and the manifests, each written last for its batch, were stored in
	// WAL order.
	last := map[string]int{}
	for _, e := range evs {
		var n int
		if _, err := fmt.Sscanf(e.ID, "s3-%d", &n); err != nil {
			continue
		}
		if n <= last[e.Source] {
			t.Fatalf("source %s: event %s archived after s3-%d", e.Source, e.ID, last[e.Source])
		}
		last[e.Source] = n
	}
	if len(last) != 2 {
		t.Fatalf("sources in the archive: %v", last)
	}
	var prev time.Time
	var prevKey string
	pages := s3.NewListObjectsV2Paginator(st.Client(), &s3.ListObjectsV2Input{Bucket: aws.String("audit"), Prefix: aws.String("kansa/" + archive.ManifestPrefix)})
	manifests := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents { // in key order, which is WAL order
			if o.LastModified.Before(prev) {
				t.Fatalf("manifest %s stored at %s, before %s at %s", *o.Key, o.LastModified, prevKey, prev)
			}
			prev, prevKey = *o.LastModified, *o.Key
			manifests++
		}
	}
	if manifests < 10 {
		t.Fatalf("%d manifests", manifests)
	}
	// The Parquet files hold the same events.
	pq := 0
	archive.Manifests(ctx, view, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Format == archive.FormatParquet {
				pq += f.Records
			}
		}
		return nil
	})
	if pq != len(evs) {
		t.Fatalf("Parquet files hold %d events, NDJSON %d", pq, len(evs))
	}
	// The batches rebuilt after the SIGKILL took the same leaves: the
	// archive, its logs and checkpoints verify.
	out, err := run(t, nil, "verify", "--data", data, "--config", cfg, "--state", "none")
	if err != nil || !strings.Contains(string(out), "\nOK: ") {
		t.Fatalf("verify after the outage and the SIGKILL: %v\n%s", err, out)
	}
	t.Logf("%d acknowledged events archived exactly once on S3 after a 30 s outage and a SIGKILL (%d in Parquet); %s", ackedN.Load(), pq, strings.TrimSpace(string(out)))
}

// metricValue sums the samples of one metric in Prometheus text format.
func metricValue(text, name string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		f := strings.Fields(line)
		var v float64
		fmt.Sscan(f[len(f)-1], &v)
		sum += v
	}
	return sum
}
