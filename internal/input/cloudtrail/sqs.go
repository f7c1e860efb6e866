package cloudtrail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// queue is a client of one SQS queue over SQS's query protocol (form
// posts answered in XML), which Amazon SQS answers beside its JSON
// protocol and which the SQS-compatible servers (ElasticMQ, goaws)
// answer alone. Requests are signed with Signature Version 4.
type queue struct {
	url    string
	region string
	creds  aws.CredentialsProvider // nil: requests go unsigned
	http   *http.Client
	signer *v4.Signer
}

// message is one received SQS message.
type message struct {
	ID       string
	Receipt  string // the receipt handle that deletes it
	Body     string
	Receives int // ApproximateReceiveCount: 1 on first delivery
}

// sqsError is an error SQS answered with.
type sqsError struct {
	Status  int
	Code    string
	Message string
}

func (e *sqsError) Error() string {
	return fmt.Sprintf("SQS %s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// queueRegion is the region an SQS host name says (sqs.REGION.amazonaws.com,
// sqs-fips.REGION…, an interface endpoint's vpce-….sqs.REGION.vpce…, or the
// legacy REGION.queue.amazonaws.com), else us-east-1, which SQS-compatible
// servers take.
func queueRegion(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) >= 4 {
		for i, p := range parts[:len(parts)-2] {
			// sqs.REGION., sqs-fips.REGION., vpce-….sqs.REGION.vpce.
			if p == "sqs" || p == "sqs-fips" {
				return parts[i+1]
			}
		}
		if parts[1] == "queue" {
			return parts[0]
		}
	}
	return "us-east-1"
}

// newQueue makes a client of the queue at queueURL. region is the queue's
// region; empty takes it from the URL's host name (queueRegion).
func newQueue(queueURL, region string, creds aws.CredentialsProvider, wait time.Duration) (*queue, error) {
	u, err := url.Parse(queueURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("queue_url %q: want an http(s) URL such as https://sqs.us-east-1.amazonaws.com/123456789012/trail", queueURL)
	}
	if region == "" {
		region = queueRegion(u.Hostname())
	}
	return &queue{
		url: queueURL, region: region, creds: creds,
		// A long poll holds the request for up to wait; the margin covers
		// the round trip.
		http:   &http.Client{Timeout: wait + 30*time.Second},
		signer: v4.NewSigner(),
	}, nil
}

// call posts one action with its parameters and decodes the XML answer
// into out (nil: the answer is only checked).
func (q *queue) call(ctx context.Context, action string, params url.Values, out any) error {
	params.Set("Action", action)
	params.Set("Version", "2012-11-05")
	params.Set("QueueUrl", q.url)
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if q.creds != nil {
		c, err := q.creds.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("SQS %s: no AWS credentials found (environment, shared files and profile, web identity, ECS or EC2 role): %w", action, err)
		}
		sum := sha256.Sum256([]byte(body))
		if err := q.signer.SignHTTP(ctx, c, req, hex.EncodeToString(sum[:]), "sqs", q.region, time.Now()); err != nil {
			return fmt.Errorf("SQS %s: sign: %w", action, err)
		}
	}
	resp, err := q.http.Do(req)
	if err != nil {
		return fmt.Errorf("SQS %s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("SQS %s: %w", action, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		}
		if xml.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			e.Error.Code, e.Error.Message = resp.Status, strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		return &sqsError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(out); err != nil {
		return fmt.Errorf("SQS %s: answer: %w", action, err)
	}
	return nil
}

// receive long-polls for up to max messages, waiting up to wait, and hides
// them from other receivers for visibility.
func (q *queue) receive(ctx context.Context, max int, wait, visibility time.Duration) ([]message, error) {
	p := url.Values{}
	p.Set("MaxNumberOfMessages", strconv.Itoa(max))
	p.Set("WaitTimeSeconds", strconv.Itoa(int(wait/time.Second)))
	p.Set("VisibilityTimeout", strconv.Itoa(int(visibility/time.Second)))
	p.Set("AttributeName.1", "ApproximateReceiveCount")
	var out struct {
		Messages []struct {
			ID      string `xml:"MessageId"`
			Receipt string `xml:"ReceiptHandle"`
			Body    string `xml:"Body"`
			Attrs   []struct {
				Name  string `xml:"Name"`
				Value string `xml:"Value"`
			} `xml:"Attribute"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	if err := q.call(ctx, "ReceiveMessage", p, &out); err != nil {
		return nil, err
	}
	msgs := make([]message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := message{ID: m.ID, Receipt: m.Receipt, Body: m.Body, Receives: 1}
		for _, a := range m.Attrs {
			if a.Name == "ApproximateReceiveCount" {
				if n, err := strconv.Atoi(a.Value); err == nil && n > 0 {
					msg.Receives = n
				}
			}
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// remove deletes received messages (at most 10) in one request, and
// returns the error of each that was not deleted, by index.
func (q *queue) remove(ctx context.Context, msgs []message) (map[int]error, error) {
	p := url.Values{}
	for i, m := range msgs {
		prefix := "DeleteMessageBatchRequestEntry." + strconv.Itoa(i+1) + "."
		p.Set(prefix+"Id", strconv.Itoa(i))
		p.Set(prefix+"ReceiptHandle", m.Receipt)
	}
	var out struct {
		Failed []struct {
			ID      string `xml:"Id"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"DeleteMessageBatchResult>BatchResultErrorEntry"`
	}
	if err := q.call(ctx, "DeleteMessageBatch", p, &out); err != nil {
		return nil, err
	}
	failed := map[int]error{}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(f.ID)
		if err != nil || i < 0 || i >= len(msgs) {
			return nil, fmt.Errorf("SQS DeleteMessageBatch: an answer for entry %q, which was not asked", f.ID)
		}
		failed[i] = fmt.Errorf("SQS %s: %s", f.Code, f.Message)
	}
	return failed, nil
}

// check asks for the queue's ARN, turning the answers users get wrong
// into errors that say what to fix.
func (q *queue) check(ctx context.Context, what string) error {
	err := q.call(ctx, "GetQueueAttributes", url.Values{"AttributeName.1": {"QueueArn"}}, nil)
	var se *sqsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && strings.Contains(se.Code, "NonExistentQueue") || errors.As(err, &se) && se.Code == "QueueDoesNotExist":
		return fmt.Errorf("%s %s: the queue does not exist (or is in another region or account than the URL says)", what, q.url)
	case errors.As(err, &se) && (se.Code == "SignatureDoesNotMatch" || se.Code == "InvalidClientTokenId" || se.Code == "ExpiredToken"):
		return fmt.Errorf("%s %s: the credentials were refused (%s: %s): check the access key and secret, or the region the request is signed for (%s)", what, q.url, se.Code, se.Message, q.region)
	case errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Code == "AccessDenied"):
		return fmt.Errorf("%s %s: access denied (%s): the credentials need sqs:GetQueueAttributes, sqs:ReceiveMessage and sqs:DeleteMessage on it", what, q.url, se.Message)
	}
	return fmt.Errorf("%s %s: %w", what, q.url, err)
}

// send puts a message on the queue.
func (q *queue) send(ctx context.Context, body string) error {
	return q.call(ctx, "SendMessage", url.Values{"MessageBody": {body}}, nil)
}
