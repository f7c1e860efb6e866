package cloudtrail

import (
	"fmt"
	"os"
	"testing"
)

func TestObjects(t *testing.T) {
	sns, err := os.ReadFile(sampleDir + "sns-notification-in-sqs.json")
	if err != nil {
		t.Fatal(err)
	}
	const trailKey = "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2024/10/12/123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json.gz"
	s3event := `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/a+b%2Bc.json.gz"}}},` +
		`{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"gone"}}}]}`
	for _, c := range []struct {
		name, body, want string
	}{
		{"CloudTrail through SNS", string(sns), "[s3://audit-archive-example/" + trailKey + "]"},
		{"CloudTrail, raw delivery", `{"s3Bucket":"b","s3ObjectKey":["k1","k2"]}`, "[s3://b/k1 s3://b/k2]"},
		{"S3 event", s3event, "[s3://b/AWSLogs/a b+c.json.gz]"},
		{"S3 event through SNS", fmt.Sprintf(`{"Type":"Notification","Message":%q}`, s3event), "[s3://b/AWSLogs/a b+c.json.gz]"},
		{"S3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-10-12T00:00:00.000Z","Bucket":"b"}`, "[]"},
		{"CloudTrail validation", fmt.Sprintf(`{"Type":"Notification","Message":%q}`, `{"CloudTrailValidationMessage":"CloudTrail validation message."}`), "[]"},
		{"SNS subscription", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe"}`, "[]"},
		{"MinIO event", `{"Records":[{"eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, "[s3://b/k]"},
		{"EventBridge", `{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, "[s3://b/k]"},
	} {
		objs, err := Objects([]byte(c.body))
		if got := fmt.Sprint(objs); err != nil || got != c.want {
			t.Errorf("%s: %s, %v; want %s", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{"hello", `{"Type":"Notification","Message":"not json"}`, `{"something":"else"}`, `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`} {
		if objs, err := Objects([]byte(bad)); err == nil {
			t.Errorf("%s: accepted as %v", bad, objs)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "x"}, "give queue_url (SQS notifications) or bucket (polling)"},
		{Config{Name: "x", QueueURL: "q", Bucket: "b"}, "give queue_url (SQS notifications) or bucket (polling), not both"},
		{Config{Name: "x", Bucket: "s3://b/AWSLogs/"}, `bucket "s3://b/AWSLogs/": a bucket's name only (a folder inside it goes in prefix)`},
		{Config{Name: "x", Bucket: "b", Endpoint: "127.0.0.1:9000"}, `endpoint "127.0.0.1:9000": give a URL such as http://127.0.0.1:9000`},
		{Config{Name: "x", QueueURL: "sqs/queue"}, `queue_url "sqs/queue": want an http(s) URL such as https://sqs.us-east-1.amazonaws.com/123456789012/trail`},
		{Config{Name: "x", QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/q", Prefix: "AWSLogs/"}, "prefix is for polling a bucket: give bucket too"},
		{Config{Name: "x", Bucket: "b", Wait: 30e9}, "wait: SQS waits 0s to 20s"},
		{Config{Name: "../x", Bucket: "b"}, `name "../x": no slashes (it names a file in the data directory)`},
		{Config{Name: "x", Bucket: "b", Wait: 1500e6}, "wait and visibility_timeout: whole seconds (SQS counts in seconds)"},
	} {
		if err := c.cfg.Check(); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v; want %s", c.cfg, err, c.want)
		}
	}
	c := Config{Name: "x", QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/q"}
	if err := c.Check(); err != nil || c.MaxReceives != 5 || c.Wait != 20e9 || c.VisibilityTimeout != 300e9 {
		t.Fatalf("%v %+v", err, c)
	}
	in := &Input{cfg: c}
	msgs := []message{{ID: "a", Receives: 3}, {ID: "b", Receives: 1}}
	in.countReceives(msgs)
	in.countReceives(msgs[1:])
	if msgs[0].Receives != 3 || msgs[1].Receives != 2 {
		t.Fatalf("receives: the larger of the server's count and kansa's: %+v", msgs)
	}
	q, _ := newQueue(c.QueueURL, "", nil, 0)
	if q.region != "eu-west-1" {
		t.Fatalf("region %q from the queue's host", q.region)
	}
	for host, want := range map[string]string{"sqs.ap-northeast-1.amazonaws.com": "ap-northeast-1", "eu-central-1.queue.amazonaws.com": "eu-central-1",
		"queue.amazonaws.com": "us-east-1", "127.0.0.1": "us-east-1", "sqs.us-gov-west-1.amazonaws.com": "us-gov-west-1",
		"vpce-0abc-def.sqs.eu-west-1.vpce.amazonaws.com": "eu-west-1", "sqs-fips.us-gov-west-1.amazonaws.com": "us-gov-west-1"} {
		if got := queueRegion(host); got != want {
			t.Errorf("queueRegion(%s) = %s, want %s", host, got, want)
		}
	}
}

func TestTrailKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"AWSLogs/1/CloudTrail/us-east-1/2024/10/12/f.json.gz":        true,
		"AWSLogs/o-1/1/CloudTrail-Insight/us-east-1/2024/10/12/f.gz": true,
		"AWSLogs/1/vpcflowlogs/us-east-1/2024/10/12/f.log.gz":        false,
		"AWSLogs/1/elasticloadbalancing/us-east-1/2024/10/12/f.gz":   false,
		"AWSLogs/1/CloudTrail/us-east-1/2024/10/12/":                 false,
		"custom/trail.json.gz":                                       true,
	} {
		if got := isTrailKey(key); got != want {
			t.Errorf("isTrailKey(%s) = %v", key, got)
		}
	}
	for folder, want := range map[string]bool{
		"AWSLogs/1/CloudTrail/us-east-1/": true, "AWSLogs/1/vpcflowlogs/us-east-1/": false,
		"AWSLogs/o-1/1/CloudTrail-Insight/eu-west-1/": true, "": true,
	} {
		if got := isTrailFolder(folder); got != want {
			t.Errorf("isTrailFolder(%s) = %v", folder, got)
		}
	}
	in := &Input{cfg: Config{Buckets: []string{"trail"}}}
	if b := in.foreignBucket([]Object{{"trail", "k"}, {"other", "k"}}); b != "other" {
		t.Errorf("foreign bucket %q", b)
	}
}
