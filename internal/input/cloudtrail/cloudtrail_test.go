package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"
)

const sampleDir = "testdata/"

func TestSample(t *testing.T) {
	gz, err := os.ReadFile(sampleDir + "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	data, err := Decompress(gz)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(sampleDir + "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json")
	if !bytes.Equal(bytes.TrimSpace(data), bytes.TrimSpace(plain)) {
		t.Fatal("the .gz and the .json differ")
	}
	var got []string
	err = Records(data, func(i int, rec []byte) error {
		ev, err := Event(rec, "AWSLogs/x.json.gz", i, "default")
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s %s %s:%s(%s) %v %s %s %s", ev.ID, ev.Time.Format("15:04:05"), ev.Action, ev.Actor.Type, ev.Actor.ID, ev.Actor.Name,
			ev.Target, ev.Context.IP+ev.Context.Host, ev.Source, ev.Outcome))
		if !strings.Contains(string(ev.Meta), `"eventSource":`) || !bytes.Equal(ev.Original, rec) {
			t.Errorf("record %d: meta %s", i, ev.Meta)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"3f5b2a4e-1c1a-4a5b-9a2c-0d2c1e7d9b01 00:01:12 ConsoleLogin AWS::IAM::User:arn:aws:iam::123456789012:user/alice(alice) <nil> 198.51.100.7 cloudtrail:123456789012 success",
		"RunInstances AWS::STS::AssumedRole:arn:aws:sts::123456789012:assumed-role/DeployRole/deploy(DeployRole)",
		"0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a 00:03:05 GetBucketAcl AWS::Service:cloudtrail.amazonaws.com() &{AWS::S3::Bucket arn:aws:s3:::audit-archive-example  } cloudtrail.amazonaws.com cloudtrail:123456789012 success",
	}
	if len(got) != 3 || got[0] != want[0] || !strings.Contains(got[1], want[1]) || got[2] != want[2] {
		t.Fatalf("got\n%s", strings.Join(got, "\n"))
	}
	if !IsDigest("AWSLogs/1/CloudTrail-Digest/ap-northeast-1/2024/10/12/1_CloudTrail-Digest_ap-northeast-1_x.json.gz") || IsDigest("AWSLogs/1/CloudTrail/x.json.gz") {
		t.Fatal("digest detection")
	}
	if err := Records([]byte(`{"nope":1}`), func(int, []byte) error { return nil }); err == nil {
		t.Fatal("a file without Records accepted")
	}
}

func TestErrorRecord(t *testing.T) {
	rec := []byte(`{"eventTime":"2024-10-12T00:00:00Z","eventName":"DeleteBucket","eventSource":"s3.amazonaws.com","errorCode":"AccessDenied","errorMessage":"Access Denied","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"},"sourceIPAddress":"192.0.2.1","requestParameters":{"bucketName":"logs"}}`)
	ev, err := Event(rec, "f", 7, "default")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Outcome != "failure" || ev.Actor.Type != "AWS::Root" || ev.Target.ID != "arn:aws:s3:::logs" || ev.ID == "" || !strings.Contains(string(ev.Meta), `"errorCode":"AccessDenied"`) {
		t.Fatalf("%+v %+v %+v %s", ev, ev.Actor, ev.Target, ev.Meta)
	}
	if again, _ := Event(rec, "f", 7, "default"); again.ID != ev.ID {
		t.Fatal("a record without eventID got another id the second time")
	}
}

func BenchmarkExpand(b *testing.B) {
	plain, err := os.ReadFile(sampleDir + "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json")
	if err != nil {
		b.Fatal(err)
	}
	recs, _ := bytes.CutPrefix(bytes.TrimSpace(plain), []byte(`{"Records": [`))
	if len(recs) == len(bytes.TrimSpace(plain)) {
		recs, _ = bytes.CutPrefix(bytes.TrimSpace(plain), []byte(`{"Records":[`))
	}
	recs = bytes.TrimSuffix(bytes.TrimSuffix(recs, []byte("}")), []byte("]"))
	// A file of 1,000 records: the sample's three, repeated.
	var body bytes.Buffer
	body.WriteString(`{"Records":[`)
	for i := range 334 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(recs)
	}
	body.WriteString("]}")
	data := body.Bytes()
	n := 0
	Records(data, func(int, []byte) error { n++; return nil })
	var line []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Records(data, func(i int, rec []byte) error {
			ev, err := Event(rec, "f", i, "default")
			if err != nil {
				return err
			}
			line = ev.AppendJSON(line[:0])
			return nil
		})
	}
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "records/s")
}

func TestLongARNs(t *testing.T) {
	key := strings.Repeat("k", 300)
	rec := []byte(`{"eventTime":"2024-10-12T00:00:00Z","eventName":"PutObject","eventID":"e1","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::1:user/` + strings.Repeat("p/", 110) + `u"},` +
		`"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::logs/` + key + `"},{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::logs"}]}`)
	ev, err := Event(rec, "f", 0, "default")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Target.ID != "arn:aws:s3:::logs" || ev.Actor.ID != "AIDAEXAMPLE" {
		t.Fatalf("target %v, actor %v", ev.Target, ev.Actor)
	}
}

// TestDecompressBound: a gzip file is inflated whole up to the bound, and
// one that inflates past it is refused, whatever its compressed size.
func TestDecompressBound(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(bytes.Repeat([]byte(`{"Records":[]}`), 1<<16))
	zw.Close()
	const size = 14 << 16
	if out, err := decompress(buf.Bytes(), size); err != nil || len(out) != size {
		t.Fatalf("at the bound: %d bytes, %v", len(out), err)
	}
	if _, err := decompress(buf.Bytes(), size-1); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("past the bound: %v", err)
	}
	plain := []byte(`{"Records":[]}`)
	if out, err := decompress(plain, 1); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("uncompressed data is returned as it is: %q, %v", out, err)
	}
}
