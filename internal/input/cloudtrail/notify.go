package cloudtrail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Object names one file in a bucket.
type Object struct {
	Bucket, Key string
}

func (o Object) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// bucketObject is how S3's and EventBridge's events name an object.
type bucketObject struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// Objects returns the files a queue message announces. It reads
//   - CloudTrail's own notification, {"s3Bucket": B, "s3ObjectKey": [K…]},
//     as SNS delivers it to a queue (wrapped in {"Type": "Notification",
//     "Message": "…"}) or with raw message delivery;
//   - S3 event notifications, {"Records": [{"eventSource": "aws:s3", …}]},
//     straight from the bucket or wrapped by SNS (only ObjectCreated
//     events; keys are URL-decoded as S3 sends them);
//   - EventBridge's "Object Created" events.
//
// S3's test event (sent when a notification is configured), CloudTrail's
// validation message (sent when a trail's topic is set up) and SNS
// subscription messages announce nothing: no objects and no error. A
// message of no known shape is an error.
func Objects(body []byte) ([]Object, error) {
	var m struct {
		// SNS
		Type    string `json:"Type"`
		Message *string
		// CloudTrail
		Bucket string   `json:"s3Bucket"`
		Keys   []string `json:"s3ObjectKey"`
		// S3
		Records []struct {
			Source string       `json:"eventSource"`
			Name   string       `json:"eventName"`
			S3     bucketObject `json:"s3"`
		} `json:"Records"`
		Event string `json:"Event"` // s3:TestEvent
		// CloudTrail's message when a trail's topic is set up
		Validation string `json:"CloudTrailValidationMessage"`
		// EventBridge
		DetailType string       `json:"detail-type"`
		Detail     bucketObject `json:"detail"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not a JSON notification: %w", err)
	}
	switch {
	case m.Type == "Notification" && m.Message != nil:
		return Objects([]byte(*m.Message))
	case m.Type == "SubscriptionConfirmation" || m.Type == "UnsubscribeConfirmation":
		return nil, nil
	case m.Bucket != "":
		objs := make([]Object, 0, len(m.Keys))
		for _, k := range m.Keys {
			objs = append(objs, Object{m.Bucket, k})
		}
		return objs, nil
	case m.Records != nil:
		var objs []Object
		for _, r := range m.Records {
			// aws:s3 and ObjectCreated:Put from S3; minio:s3 and
			// s3:ObjectCreated:Put from MinIO.
			if !strings.HasSuffix(r.Source, ":s3") || !strings.HasPrefix(strings.TrimPrefix(r.Name, "s3:"), "ObjectCreated:") {
				continue
			}
			// S3 encodes keys as a form value: spaces as "+".
			k, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("S3 event: key %q: %w", r.S3.Object.Key, err)
			}
			objs = append(objs, Object{r.S3.Bucket.Name, k})
		}
		return objs, nil
	case m.Event == "s3:TestEvent" || m.Validation != "":
		return nil, nil
	case m.DetailType == "Object Created" && m.Detail.Bucket.Name != "":
		return []Object{{m.Detail.Bucket.Name, m.Detail.Object.Key}}, nil
	}
	return nil, errors.New(`not a CloudTrail, S3 or EventBridge notification (no "s3Bucket", "Records" or "detail")`)
}
