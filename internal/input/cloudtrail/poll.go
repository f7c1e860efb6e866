package cloudtrail

import (
	"cmp"
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/objstore/s3store"
)

// Polling lists a bucket the way CloudTrail lays it out,
// PREFIX/AWSLogs/[ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE: every
// folder that holds year folders is a stream, and each stream is listed
// one day folder at a time, from the day before the newest it finished
// (CloudTrail writes a file into the folder of the time it was written, so
// only the newest days get new files) through today. The first poll of a
// stream starts at its oldest day. The ledger keeps, per stream, the day
// reached and the files read in the days still listed.

var (
	yearDir = regexp.MustCompile(`^[0-9]{4}/$`)
	dayPath = regexp.MustCompile(`[0-9]{4}/[0-9]{2}/[0-9]{2}/[^/]*$`)
)

const dayLayout = "2006/01/02"

// runPoll polls the bucket every PollInterval until ctx ends.
func (in *Input) runPoll(ctx context.Context) error {
	in.log.Info("polling for CloudTrail log files", "bucket", in.cfg.Bucket, "prefix", in.cfg.Prefix)
	if _, err := in.store(ctx, in.cfg.Bucket); err != nil {
		return err
	}
	for {
		if err := in.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(in.cfg.PollInterval):
		}
	}
}

// poll reads the files new since the last poll.
func (in *Input) poll(ctx context.Context) error {
	s, err := in.store(ctx, in.cfg.Bucket)
	if err != nil {
		return err
	}
	c := s.(*s3store.Store).Client()
	streams, err := in.streams(ctx, c, in.cfg.Prefix, 0)
	if err != nil {
		return err
	}
	if len(streams) == 0 {
		in.log.Warn("no CloudTrail folders (…/REGION/YYYY/) under the prefix yet", "bucket", in.cfg.Bucket, "prefix", in.cfg.Prefix)
	}
	var first error
	for _, st := range streams {
		if err := in.pollStream(ctx, c, st); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// One stream's trouble (a prefix the credentials may not
			// list) does not hold the others up.
			in.log.Warn("polling a CloudTrail folder", "folder", st, "err", err)
			first = cmp.Or(first, err)
		}
	}
	return first
}

// list lists one folder: its subfolders and its files, each in order.
func (in *Input) list(ctx context.Context, c *s3.Client, prefix string) (dirs, keys []string, err error) {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{
		Bucket: aws.String(in.cfg.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range page.CommonPrefixes {
			dirs = append(dirs, strings.TrimPrefix(aws.ToString(d.Prefix), prefix))
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return dirs, keys, nil
}

// isTrailFolder reports whether a folder is a region folder of
// CloudTrail's logs or Insights events (…/CloudTrail/REGION/,
// …/CloudTrail-Insight/REGION/), or a bucket root or prefix given as one.
func isTrailFolder(folder string) bool {
	els := strings.Split(strings.TrimSuffix(folder, "/"), "/")
	if len(els) < 2 {
		return true // the prefix itself: the user said so
	}
	p := els[len(els)-2]
	return p == "CloudTrail" || p == "CloudTrail-Insight"
}

// streams returns the folders under prefix that hold year folders,
// leaving out CloudTrail-Digest.
func (in *Input) streams(ctx context.Context, c *s3.Client, prefix string, depth int) ([]string, error) {
	dirs, _, err := in.list(ctx, c, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		switch {
		case yearDir.MatchString(d):
			// CloudTrail's region folders only: VPC Flow Logs and load
			// balancer logs share the layout under AWSLogs/.
			if isTrailFolder(prefix) && (len(out) == 0 || out[len(out)-1] != prefix) {
				out = append(out, prefix)
			}
		case d == "CloudTrail-Digest/" || depth >= 8:
		default:
			sub, err := in.streams(ctx, c, prefix+d, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// oldestDay returns the first day folder of a stream, or false.
func (in *Input) oldestDay(ctx context.Context, c *s3.Client, stream string) (time.Time, bool, error) {
	path := stream
	for range 3 { // year, month, day
		dirs, _, err := in.list(ctx, c, path)
		if err != nil || len(dirs) == 0 {
			return time.Time{}, false, err
		}
		path += dirs[0]
	}
	day, err := time.Parse(dayLayout+"/", strings.TrimPrefix(path, stream))
	return day, err == nil, nil
}

// pollStream reads a stream's new files, a day at a time; after each
// day, its records are durable and the ledger saved.
func (in *Input) pollStream(ctx context.Context, c *s3.Client, stream string) error {
	var day time.Time
	if d, ok := in.ledger.st.Days[stream]; ok {
		t, err := time.Parse(dayLayout, d)
		if err != nil {
			return errors.New("ledger: day " + d + " of " + stream)
		}
		day = t.AddDate(0, 0, -1)
	} else {
		t, ok, err := in.oldestDay(ctx, c, stream)
		if err != nil || !ok {
			return err
		}
		day = t
	}
	// A day ahead of this clock's: a writer whose clock is ahead.
	end := time.Now().UTC().Add(time.Hour)
	held := false
	for ; !day.After(end); day = day.AddDate(0, 0, 1) {
		h, err := in.pollDay(ctx, c, stream, day, !held)
		if err != nil {
			return err
		}
		held = held || h
	}
	return nil
}

// pollDay reads one day folder's new files, and moves the stream's day
// there when advance. It reports whether a file is left to try again.
func (in *Input) pollDay(ctx context.Context, c *s3.Client, stream string, day time.Time, advance bool) (hold bool, err error) {
	folder := stream + day.Format(dayLayout) + "/"
	_, keys, err := in.list(ctx, c, folder)
	if err != nil {
		return false, err
	}
	var r round
	objs := make([]Object, len(keys))
	for i, k := range keys {
		objs[i] = Object{in.cfg.Bucket, k}
	}
	objs = in.todo(objs)
	failsChanged := false
	for len(objs) > 0 {
		// A window of files fetched together, then read in order.
		window := objs[:min(len(objs), 4*in.cfg.Fetchers)]
		objs = objs[len(window):]
		for i, got := range in.fetch(ctx, window) {
			o := window[i]
			unreadable, err := in.read(ctx, o, got, &r)
			if err != nil {
				return hold, err
			}
			f := o.String()
			if unreadable == nil {
				if _, ok := in.ledger.st.Fails[f]; ok {
					delete(in.ledger.st.Fails, f)
					failsChanged = true
				}
				continue
			}
			failsChanged = true
			in.ledger.st.Fails[f]++
			if in.ledger.st.Fails[f] < in.cfg.MaxReceives {
				in.log.Warn("a file cannot be read; trying again at the next poll", "file", f, "tries", in.ledger.st.Fails[f], "err", unreadable)
				hold = true
				continue
			}
			in.log.Warn("a file cannot be read; giving it up", "file", f, "tries", in.ledger.st.Fails[f], "err", unreadable)
			delete(in.ledger.st.Fails, f)
			r.bad = append(r.bad, input.Bad{Err: &mapping.Error{Type: "dead_letter", Err: unreadable}, Line: []byte(f)})
			r.read = append(r.read, f)
		}
	}
	// The stream's day moves here once nothing before it is left to try;
	// files of days no longer listed are forgotten.
	reached := in.ledger.st.Days[stream]
	if d := day.Format(dayLayout); advance && !hold && d > reached && !day.After(time.Now().UTC()) {
		in.ledger.st.Days[stream] = d
		reached = d
	}
	err = in.commit(ctx, &r, failsChanged || reached != in.ledger.saved[stream], in.listedNoMore)
	if err == nil {
		in.ledger.saved[stream] = reached
	}
	return hold, err
}

// listedNoMore reports whether a file is in a day folder older than its
// stream lists (the day before the one reached): the ledger forgets it.
func (in *Input) listedNoMore(file string, _ int64) bool {
	key, ok := strings.CutPrefix(file, "s3://"+in.cfg.Bucket+"/")
	loc := dayPath.FindStringIndex(key)
	if !ok || loc == nil {
		return false
	}
	reached, ok := in.ledger.st.Days[key[:loc[0]]]
	if !ok {
		return false
	}
	t, err := time.Parse(dayLayout, reached)
	return err == nil && key[loc[0]:loc[0]+10] < t.AddDate(0, 0, -1).Format(dayLayout)
}
