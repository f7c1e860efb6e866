package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kansa-audit/kansa/internal/objstore/s3store"
)

const (
	goawsAccount = "100010001000"
	sampleTrail  = "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json.gz"
)

// goaws starts an SQS and SNS server of the test's own (scripts/goaws.sh
// builds it) with queues "trail" and "dlq", whose messages come back 1 s
// after a receive, and a topic "cloudtrail" that delivers to "trail" as
// SNS delivers to a queue. It returns the server's URL.
func goaws(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KANSA_GOAWS_BIN")
	if bin == "" {
		out, err := exec.Command("bash", "../../scripts/goaws.sh", "install").Output()
		if err != nil {
			t.Fatalf("scripts/goaws.sh install: %v", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "goaws.yaml")
	os.WriteFile(conf, fmt.Appendf(nil, `Local:
  Host: 127.0.0.1
  Port: %d
  Region: us-east-1
  AccountId: "%s"
  QueueAttributeDefaults:
    VisibilityTimeout: 1
    ReceiveMessageWaitTimeSeconds: 0
  Queues:
    - Name: trail
    - Name: dlq
  Topics:
    - Name: cloudtrail
      Subscriptions:
        - QueueName: trail
          Raw: false
`, port, goawsAccount), 0o644)
	cmd := exec.Command(bin, "-config", conf, "Local")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.PostForm(base+"/", url.Values{"Action": {"ListQueues"}}); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("goaws did not answer on %s\n%s", base, log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the server's start
	}
}

// awsQuery posts one query-protocol action to goaws and returns its answer.
func awsQuery(t *testing.T, endpoint string, params url.Values) string {
	t.Helper()
	resp, err := http.PostForm(endpoint, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s\n%s", params.Get("Action"), resp.Status, body)
	}
	return string(body)
}

// queueDepth is a queue's visible plus in-flight messages.
func queueDepth(t *testing.T, q string) int {
	out := awsQuery(t, q, url.Values{"Action": {"GetQueueAttributes"}, "QueueUrl": {q}, "AttributeName.1": {"All"}})
	var r struct {
		Attrs []struct{ Name, Value string } `xml:"GetQueueAttributesResult>Attribute"`
	}
	if err := xml.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range r.Attrs {
		if a.Name == "ApproximateNumberOfMessages" || a.Name == "ApproximateNumberOfMessagesNotVisible" {
			var v int
			fmt.Sscan(a.Value, &v)
			n += v
		}
	}
	return n
}

// trailBucket makes a bucket on the test MinIO and returns a put function.
func trailBucket(t *testing.T, endpoint, name string) func(key string, data []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := s3store.New(ctx, s3store.Config{Bucket: name, Endpoint: endpoint, SkipBucketCheck: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return func(key string, data []byte) {
		t.Helper()
		if err := st.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
}

// testS3 returns the test MinIO's endpoint (scripts/test.sh starts it).
func testS3(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MinIO")
	}
	endpoint := os.Getenv("KANSA_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Fatal(`MinIO is not set up: run bash scripts/test.sh, or eval "$(bash scripts/minio.sh start)"`)
	}
	return endpoint
}

// trailRecords is a CloudTrail log file of n records with ids PREFIX-i.
func trailRecords(prefix string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.09","eventID":"%s-%d","eventTime":"2024-10-12T01:%02d:00Z","eventName":"PutObject","eventSource":"s3.amazonaws.com","awsRegion":"ap-northeast-1","sourceIPAddress":"192.0.2.%d","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::210987654321:user/ci","userName":"ci"},"requestParameters":{"bucketName":"assets"},"recipientAccountId":"210987654321"}`, prefix, i, i%60, i%250+1)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// errorRecords reads the error output of one type from a data directory's
// archive.
func errorRecords(t *testing.T, data, typ string) []string {
	t.Helper()
	var lines []string
	filepath.WalkDir(filepath.Join(data, "archive", "errors", typ), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gz") {
			return nil
		}
		f, _ := os.ReadFile(p)
		zr, err := gzip.NewReader(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
		return nil
	})
	return lines
}

// TestCloudTrailQueue runs the CloudTrail input against a real S3 server
// (MinIO) and SQS and SNS servers (goaws): CloudTrail's notification
// through SNS, an S3 event notification sent straight to the queue,
// a notification repeated, a digest file, a file that is not CloudTrail's,
// a missing file (given up after max_receives, to the error output and the
// dead-letter queue), a message that is not a notification, and one that
// names a bucket not in buckets.
func TestCloudTrailQueue(t *testing.T) {
	needBinary(t)
	s3url := testS3(t)
	sqs := goaws(t)
	trail, dlq := sqs+"/"+goawsAccount+"/trail", sqs+"/"+goawsAccount+"/dlq"
	bucket := fmt.Sprintf("trail-q-%d", time.Now().UnixNano())
	put := trailBucket(t, s3url, bucket)
	dir := "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2024/10/12/"
	gz, err := os.ReadFile("../../internal/input/cloudtrail/testdata/" + sampleTrail)
	if err != nil {
		t.Fatal(err)
	}
	put(dir+sampleTrail, gz)
	put("AWSLogs/123456789012/CloudTrail-Digest/ap-northeast-1/2024/10/12/123456789012_CloudTrail-Digest_ap-northeast-1_x.json.gz", gz)
	put(dir+"second file.json", trailRecords("second", 40)) // not gzipped; a space in its key
	put(dir+"broken.json.gz", []byte("this is not gzip and not JSON"))

	cfg := writeConfig(t, fmt.Sprintf(`batch:
  max_interval: 100ms
inputs:
  cloudtrail:
    - name: trail
      queue_url: %s
      dead_letter_queue_url: %s
      endpoint: %s
      wait: 1s
      max_receives: 2
      buckets: [%s]
    - name: wrong
      queue_url: %s/%s/nope
`, trail, dlq, s3url, bucket, sqs, goawsAccount))
	data := t.TempDir()
	srv := startServe(t, data, "--config", cfg)

	publish := func(msg string) {
		awsQuery(t, sqs+"/", url.Values{"Action": {"Publish"}, "TopicArn": {"arn:aws:sns:us-east-1:" + goawsAccount + ":cloudtrail"}, "Message": {msg}})
	}
	send := func(body string) {
		awsQuery(t, trail, url.Values{"Action": {"SendMessage"}, "QueueUrl": {trail}, "MessageBody": {body}})
	}
	ctNote := func(keys ...string) string {
		return fmt.Sprintf(`{"s3Bucket":"%s","s3ObjectKey":["%s"]}`, bucket, strings.Join(keys, `","`))
	}
	// CloudTrail's notification, through SNS: the sample and its digest.
	publish(ctNote(dir+sampleTrail, "AWSLogs/123456789012/CloudTrail-Digest/ap-northeast-1/2024/10/12/123456789012_CloudTrail-Digest_ap-northeast-1_x.json.gz"))
	evs := waitSearch(t, srv, data, "source:cloudtrail:123456789012", 3)
	if len(evs) != 3 || evs[0]["action"] == nil {
		t.Fatalf("sample: %v", evs)
	}
	// An S3 event notification, key URL-encoded as S3 sends it.
	send(fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"%s"},"object":{"key":"%s"}}}]}`,
		bucket, strings.ReplaceAll(url.PathEscape(dir), "%2F", "/")+"second+file.json"))
	waitSearch(t, srv, data, "source:cloudtrail:210987654321", 40)
	// The sample again, a file that is not CloudTrail's, one that is
	// missing, and a message that is not a notification.
	publish(ctNote(dir + sampleTrail))
	publish(ctNote(dir + "broken.json.gz"))
	publish(ctNote(dir + "missing.json.gz"))
	send("hello")
	send(`{"s3Bucket":"elsewhere","s3ObjectKey":["AWSLogs/1/CloudTrail/x.json.gz"]}`) // not in buckets

	// The missing file's message reaches the dead-letter queue after two
	// receives; then the queue is empty.
	deadline := time.Now().Add(60 * time.Second)
	for queueDepth(t, dlq) < 3 || queueDepth(t, trail) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dlq %d, trail %d\n%s", queueDepth(t, dlq), queueDepth(t, trail), srv.stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // polling the queues
	}
	resp, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The sample, the second file and the broken one; the missing one was
	// given up with its message.
	if n := metricValue(string(metrics), "kansa_cloudtrail_files_total"); n != 3 {
		t.Errorf("kansa_cloudtrail_files_total %v, want 3", n)
	}
	out := awsQuery(t, dlq, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {dlq}, "MaxNumberOfMessages": {"10"}})
	if !strings.Contains(out, "missing.json.gz") || !strings.Contains(out, "hello") || !strings.Contains(out, "elsewhere") {
		t.Fatalf("dead-letter queue:\n%s", out)
	}
	srv.stop(t)
	if !strings.Contains(srv.stderr.String(), "queue_url "+sqs+"/"+goawsAccount+"/nope: the queue does not exist") {
		t.Errorf("a queue that does not exist: not said\n%s", srv.stderr.String())
	}

	dead := errorRecords(t, data, "dead_letter")
	if len(dead) != 3 || !strings.Contains(strings.Join(dead, "\n"), `given up after 2 receives`) || !strings.Contains(strings.Join(dead, "\n"), `not one of buckets`) ||
		!strings.Contains(strings.Join(dead, "\n"), `missing.json.gz`) || !strings.Contains(dead[0], `"source":"cloudtrail:trail"`) {
		t.Fatalf("dead_letter records:\n%s", strings.Join(dead, "\n"))
	}
	if bad := errorRecords(t, data, "map"); len(bad) != 1 || !strings.Contains(bad[0], "broken.json.gz") {
		t.Fatalf("map records:\n%s", strings.Join(bad, "\n"))
	}
	// Every record archived once: the repeated notification read nothing.
	all := archivedEvents(t, filepath.Join(data, "archive"))
	ids := map[string]int{}
	for _, e := range all {
		ids[e.ID]++
	}
	if len(all) != 43 || len(ids) != 43 {
		t.Fatalf("archived %d events, %d ids", len(all), len(ids))
	}
}

// TestCloudTrailPoll polls a bucket laid out as CloudTrail lays it out: the
// first poll reads every day there is, a later one only what is new, and
// a restart reads nothing twice.
func TestCloudTrailPoll(t *testing.T) {
	needBinary(t)
	s3url := testS3(t)
	bucket := fmt.Sprintf("trail-p-%d", time.Now().UnixNano())
	put := trailBucket(t, s3url, bucket)
	today := time.Now().UTC()
	folder := func(region string, day time.Time) string {
		return "AWSLogs/o-org/210987654321/CloudTrail/" + region + "/" + day.Format("2006/01/02") + "/"
	}
	put(folder("us-east-1", today.AddDate(0, 0, -3))+"a.json.gz", gzipped(trailRecords("a", 10)))
	put(folder("us-east-1", today)+"b.json.gz", gzipped(trailRecords("b", 10)))
	put(folder("eu-west-1", today.AddDate(0, 0, -1))+"c.json.gz", gzipped(trailRecords("c", 10)))
	put("AWSLogs/o-org/210987654321/CloudTrail-Digest/us-east-1/"+today.Format("2006/01/02")+"/d.json.gz", gzipped(trailRecords("d", 10)))
	cfg := writeConfig(t, fmt.Sprintf(`batch:
  max_interval: 100ms
inputs:
  cloudtrail:
    - name: poll
      bucket: %s
      prefix: AWSLogs/
      endpoint: %s
      poll_interval: 200ms
    - name: nobucket
      bucket: %s-none
      endpoint: %s
`, bucket, s3url, bucket, s3url))
	data := t.TempDir()
	srv := startServe(t, data, "--config", cfg)
	waitSearch(t, srv, data, "source:cloudtrail:210987654321", 30)
	put(folder("eu-west-1", today)+"e.json.gz", gzipped(trailRecords("e", 5)))
	waitSearch(t, srv, data, "source:cloudtrail:210987654321", 35)
	srv.stop(t)

	if !strings.Contains(srv.stderr.String(), fmt.Sprintf(`bucket \"%s-none\" does not exist`, bucket)) {
		t.Errorf("a bucket that does not exist: not said\n%s", srv.stderr.String())
	}
	srv = startServe(t, data, "--config", cfg)
	put(folder("us-east-1", today)+"f.json.gz", gzipped(trailRecords("f", 5)))
	waitSearch(t, srv, data, "source:cloudtrail:210987654321", 40)
	srv.stop(t)
	all := archivedEvents(t, filepath.Join(data, "archive"))
	ids := map[string]int{}
	for _, e := range all {
		ids[e.ID]++
	}
	if len(all) != 40 || len(ids) != 40 || ids["d-0"] != 0 {
		t.Fatalf("archived %d events, %d ids: %v", len(all), len(ids), ids)
	}
}

// TestCloudTrailQueueKill SIGKILLs kansa while it reads a queue of files
// and starts it again: every record is archived, and search sees each once.
func TestCloudTrailQueueKill(t *testing.T) {
	needBinary(t)
	s3url := testS3(t)
	sqs := goaws(t)
	trail := sqs + "/" + goawsAccount + "/trail"
	bucket := fmt.Sprintf("trail-k-%d", time.Now().UnixNano())
	put := trailBucket(t, s3url, bucket)
	const files, per = 40, 500
	for f := range files {
		key := fmt.Sprintf("AWSLogs/210987654321/CloudTrail/us-east-1/2024/10/12/f%02d.json.gz", f)
		put(key, gzipped(trailRecords(fmt.Sprintf("k%02d", f), per)))
		awsQuery(t, trail, url.Values{"Action": {"SendMessage"}, "QueueUrl": {trail},
			"MessageBody": {fmt.Sprintf(`{"s3Bucket":"%s","s3ObjectKey":["%s"]}`, bucket, key)}})
	}
	cfg := writeConfig(t, fmt.Sprintf(`batch:
  max_interval: 100ms
inputs:
  cloudtrail:
    - name: trail
      queue_url: %s
      endpoint: %s
      wait: 1s
`, trail, s3url))
	data := t.TempDir()
	srv := startServe(t, data, "--config", cfg)
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get(srv.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if metricValue(string(b), "kansa_accepted_total") >= 3*per {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing accepted\n%s", srv.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the server's counters
	}
	srv.kill()
	srv = startServe(t, data, "--config", cfg)
	waitSearch(t, srv, data, "source:cloudtrail:210987654321", files*per)
	for deadline := time.Now().Add(30 * time.Second); queueDepth(t, trail) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages left", queueDepth(t, trail))
		}
		time.Sleep(50 * time.Millisecond) // polling the queue
	}
	srv.stop(t)
	ids := map[string]bool{}
	for _, e := range archivedEvents(t, filepath.Join(data, "archive")) {
		ids[e.ID] = true
	}
	if len(ids) != files*per {
		t.Fatalf("%d distinct records archived, want %d", len(ids), files*per)
	}
	out, err := run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "source:cloudtrail:210987654321")
	if n := strings.Count(string(out), "\n"); err != nil || n != files*per {
		t.Fatalf("search: %d events, %v", n, err)
	}
}
