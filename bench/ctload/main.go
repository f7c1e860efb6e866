// Command ctload prepares the CloudTrail input's benchmark (bench/cloudtrail.sh):
// it writes FILES gzipped CloudTrail log files of RECORDS records each (the
// sample's records, repeated with their own eventIDs) into a bucket and into
// a local folder, and sends one CloudTrail notification per file to an SQS
// queue (query protocol, unsigned: for a local test server).
//
//	go run ./bench/ctload -endpoint http://127.0.0.1:9000 -bucket trail \
//	    -queue http://127.0.0.1:4100/100010001000/trail -dir /tmp/trail -files 200 -records 1000
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kansa-audit/kansa/internal/objstore/s3store"
)

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint (MinIO)")
	bucket := flag.String("bucket", "trail", "bucket to create and fill")
	queue := flag.String("queue", "", "SQS queue URL to notify")
	dir := flag.String("dir", "", "local folder for the same files")
	files := flag.Int("files", 200, "files")
	records := flag.Int("records", 1000, "records per file")
	upload := flag.Bool("upload", true, "create the bucket and write the files (false: only notify, for files written before)")
	sample := flag.String("sample", "internal/input/cloudtrail/testdata/123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json", "CloudTrail file whose records are repeated")
	flag.Parse()
	ctx := context.Background()

	raw, err := os.ReadFile(*sample)
	if err != nil {
		log.Fatal(err)
	}
	var s struct{ Records []map[string]any }
	if err := json.Unmarshal(raw, &s); err != nil {
		log.Fatal(err)
	}
	st, err := s3store.New(ctx, s3store.Config{Bucket: *bucket, Endpoint: *endpoint, SkipBucketCheck: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if *upload {
		if _, err := st.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(*bucket)}); err != nil {
			log.Fatal(err)
		}
	}
	folder := "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2024/10/12/"
	var bytesIn int
	for f := range *files {
		recs := make([]map[string]any, *records)
		for i := range recs {
			r := map[string]any{}
			for k, v := range s.Records[i%len(s.Records)] {
				r[k] = v
			}
			r["eventID"] = fmt.Sprintf("bench-%d-%d", f, i)
			recs[i] = r
		}
		plain, _ := json.Marshal(map[string]any{"Records": recs})
		bytesIn += len(plain)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(plain)
		zw.Close()
		key := fmt.Sprintf("%s123456789012_CloudTrail_ap-northeast-1_20241012T%04dZ_bench.json.gz", folder, f)
		if *upload {
			if err := st.Put(ctx, key, gz.Bytes()); err != nil {
				log.Fatal(err)
			}
		}
		if *dir != "" && *upload {
			p := filepath.Join(*dir, filepath.FromSlash(key))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, gz.Bytes(), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		if *queue != "" {
			body := fmt.Sprintf(`{"s3Bucket":%q,"s3ObjectKey":[%q]}`, *bucket, key)
			resp, err := http.PostForm(*queue, url.Values{"Action": {"SendMessage"}, "QueueUrl": {*queue}, "MessageBody": {body}})
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				log.Fatalf("SendMessage: %s", resp.Status)
			}
		}
	}
	fmt.Printf("%d files, %d records, %.1f MB of JSON\n", *files, *files**records, float64(bytesIn)/1e6)
}
