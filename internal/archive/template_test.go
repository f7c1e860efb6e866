package archive

import (
	"strings"
	"testing"
)

func TestPartitions(t *testing.T) {
	for _, c := range []struct {
		tmpl, base, parts, err string
	}{
		{DefaultPrefix, "", "tenant:tenant year:yyyy month:MM day:dd", ""},
		{"parquet/tenant=!{tenant}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/", "parquet/", "tenant:tenant dt:yyyy-MM-dd hour:HH", ""},
		{"a/b/src=!{source}/", "a/b/", "src:source", ""},
		{"!{timestamp:yyyy}/", "", "", "not Hive-style"},
		{"tenant=!{tenant}/x/", "", "", "literal element"},
		{"tenant=!{tenant}/day=!{timestamp:dd}", "", "", "end it with /"},
		{"t=!{tenant}-!{source}/", "", "", "not Hive-style"},
	} {
		tm, err := ParseTemplate(c.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		base, parts, err := tm.Partitions()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.tmpl, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.tmpl, err)
			continue
		}
		var got []string
		for _, p := range parts {
			v := map[PartitionKind]string{PartitionTenant: "tenant", PartitionSource: "source"}[p.Kind]
			if p.Kind == PartitionTime {
				v = p.Format
			}
			got = append(got, p.Name+":"+v)
		}
		if base != c.base || strings.Join(got, " ") != c.parts {
			t.Errorf("%s: base %q parts %v", c.tmpl, base, got)
		}
	}
}
