// Package cloudtrail expands AWS CloudTrail log files into kansa events:
// one event per record of a file's Records array (docs/cloudtrail.md).
package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// IsDigest reports whether an object key or file name is a CloudTrail
// digest file (under CloudTrail-Digest/), which holds hashes, not events.
func IsDigest(name string) bool {
	return strings.Contains(name, "/CloudTrail-Digest/") || strings.Contains(name, "_CloudTrail-Digest_")
}

// MaxFileBytes bounds a log file once decompressed. CloudTrail's files are
// far smaller; a file that inflates past it is refused rather than let
// grow in memory.
const MaxFileBytes = 1 << 30

// Decompress returns data gunzipped when it is gzip, else data.
func Decompress(data []byte) ([]byte, error) { return decompress(data, MaxFileBytes) }

func decompress(data []byte, limit int64) ([]byte, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err == nil && int64(len(out)) > limit {
		return nil, fmt.Errorf("decompresses to more than %d MiB, more than a CloudTrail log file holds", limit>>20)
	}
	return out, err
}

// Records calls fn with each record of a CloudTrail log file's JSON
// ({"Records": [...]}), in order.
func Records(file []byte, fn func(i int, rec []byte) error) error {
	recs, ok := rawjson.Get(file, "Records")
	if !ok || rawjson.KindOf(recs) != rawjson.Array {
		return errors.New(`not a CloudTrail log file: no "Records" array`)
	}
	return rawjson.Elements(recs, fn)
}

// Event maps one record (docs/cloudtrail.md). file names where it came
// from (an S3 key or a path) and i its position there.
func Event(rec []byte, file string, i int, tenant string) (*event.Event, error) {
	fs, err := rawjson.Fields(nil, rec)
	if err != nil {
		return nil, err
	}
	str := func(fs []rawjson.Field, k string) string {
		v, ok := rawjson.Lookup(fs, k)
		if !ok {
			return ""
		}
		s, err := rawjson.Text(v)
		if err != nil {
			return ""
		}
		return s
	}
	ev := &event.Event{
		ID:       str(fs, "eventID"),
		Action:   str(fs, "eventName"),
		Tenant:   tenant,
		Outcome:  event.OutcomeSuccess,
		Original: append([]byte(nil), rec...),
	}
	if ev.ID == "" {
		ev.ID = event.DeriveID([]byte("cloudtrail"), []byte(file), strconv.AppendInt(nil, int64(i), 10))
	}
	if ev.Time, err = time.Parse(time.RFC3339Nano, str(fs, "eventTime")); err != nil {
		return nil, fmt.Errorf("eventTime: %w", err)
	}
	ev.Time = ev.Time.Truncate(time.Microsecond)
	ev.Source = "cloudtrail"
	if acct := str(fs, "recipientAccountId"); acct != "" {
		ev.Source = "cloudtrail:" + acct
	}
	if uid, ok := rawjson.Lookup(fs, "userIdentity"); ok && rawjson.KindOf(uid) == rawjson.Object {
		ufs, _ := rawjson.Fields(nil, uid)
		ev.Actor = actor(ufs, str)
	}
	ev.Target = target(fs, str)
	ip := str(fs, "sourceIPAddress")
	if net.ParseIP(ip) != nil {
		ev.Context.IP = ip
	} else {
		ev.Context.Host = ip // an AWS service: cloudtrail.amazonaws.com
	}
	ev.Context.UserAgent = str(fs, "userAgent")
	ev.Context.RequestID = str(fs, "requestID")
	m := []byte(`{"aws":{`)
	first := true
	for _, k := range []string{"eventSource", "awsRegion", "eventType", "eventCategory", "readOnly", "managementEvent", "errorCode", "errorMessage", "requestParameters", "responseElements", "additionalEventData", "sharedEventID", "vpcEndpointId"} {
		v, ok := rawjson.Lookup(fs, k)
		if !ok || string(v) == "null" {
			continue
		}
		if !first {
			m = append(m, ',')
		}
		first = false
		m = append(m, '"')
		m = append(m, k...)
		m = append(m, '"', ':')
		m = append(m, v...)
	}
	ev.Meta = append(m, '}', '}')
	if str(fs, "errorCode") != "" {
		ev.Outcome = event.OutcomeFailure
	}
	o := []byte(`{"file":`)
	o = rawjson.AppendQuote(o, file)
	o = append(o, `,"record":`...)
	o = strconv.AppendInt(o, int64(i), 10)
	ev.Origin = append(o, '}')
	return ev, ev.Validate()
}

// maxID is the longest id an event takes (event.Validate).
const maxID = 200

// actor maps userIdentity: IAM users and roles by ARN with their names,
// AWS services by the service, the root user by its ARN.
func actor(u []rawjson.Field, str func([]rawjson.Field, string) string) *event.Actor {
	typ, arn := str(u, "type"), str(u, "arn")
	a := &event.Actor{Type: "AWS::" + typ, ID: arn, Name: str(u, "userName")}
	switch typ {
	case "IAMUser":
		a.Type = "AWS::IAM::User"
	case "AssumedRole":
		a.Type = "AWS::STS::AssumedRole"
		if sc, ok := rawjson.Lookup(u, "sessionContext"); ok {
			if si, ok := rawjson.Get(sc, "sessionIssuer"); ok {
				if n, ok := rawjson.Get(si, "userName"); ok {
					a.Name, _ = rawjson.Text(n)
				}
			}
		}
	case "AWSService":
		a.Type, a.ID = "AWS::Service", str(u, "invokedBy")
	case "Root":
		a.Type = "AWS::Root"
	}
	if a.ID == "" || len(a.ID) > maxID {
		a.ID = cmpOr(str(u, "principalId"), str(u, "accountId"), typ)
	}
	if a.ID == "" {
		return nil
	}
	return a
}

// target is the record's first resource, or the bucket a request names.
func target(fs []rawjson.Field, str func([]rawjson.Field, string) string) *event.Target {
	if res, ok := rawjson.Lookup(fs, "resources"); ok && rawjson.KindOf(res) == rawjson.Array {
		var t *event.Target
		rawjson.Elements(res, func(i int, r []byte) error {
			if t != nil {
				return nil
			}
			rfs, _ := rawjson.Fields(nil, r)
			typ, id := str(rfs, "type"), str(rfs, "ARN")
			// An object's ARN holds its key and can pass the longest id
			// an event may have: the next resource (its bucket) then.
			if typ != "" && id != "" && len(id) <= maxID {
				t = &event.Target{Type: typ, ID: id}
			}
			return nil
		})
		if t != nil {
			return t
		}
	}
	if rp, ok := rawjson.Lookup(fs, "requestParameters"); ok && rawjson.KindOf(rp) == rawjson.Object {
		if b, ok := rawjson.Get(rp, "bucketName"); ok {
			if s, err := rawjson.Text(b); err == nil && s != "" {
				return &event.Target{Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::" + s}
			}
		}
	}
	return nil
}

func cmpOr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
