package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/node"
)

// serveCounts answers GET /v1/counts?by=DIM[&tenant=T][&since=DAY][&until=DAY]:
// per-day counts, as JSON lines {"day":"2024-08-06","value":"update","count":12}.
func serveCounts(w http.ResponseWriter, r *http.Request, n *node.Node) {
	p := r.URL.Query()
	dim, ok := index.Dims[p.Get("by")]
	if !ok {
		names := make([]string, 0, len(index.Dims))
		for k := range index.Dims {
			names = append(names, k)
		}
		slices.Sort(names)
		httpError(w, http.StatusBadRequest, fmt.Sprintf("by: want one of %s", strings.Join(names, ", ")))
		return
	}
	since, until, ok := dayParams(w, r)
	if !ok {
		return
	}
	counts, err := n.Counts(r.Context(), p.Get("tenant"), dim, since, until)
	switch {
	case errors.Is(err, node.ErrNoIndex):
		httpError(w, http.StatusNotImplemented, err.Error())
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, "counts: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, c := range counts {
		enc.Encode(struct {
			Day   string `json:"day"`
			Value string `json:"value"`
			Count uint64 `json:"count"`
		}{c.Day.Format("2006-01-02"), c.Value, c.N})
	}
}
