package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/kansa-audit/kansa/internal/node"
)

// serveReconcile answers GET /v1/reconcile[?since=DAY][&until=DAY] with the
// reconciliation report as one JSON object (internal/reconcile).
func serveReconcile(w http.ResponseWriter, r *http.Request, n *node.Node) {
	since, until, ok := dayParams(w, r)
	if !ok {
		return
	}
	rep, err := n.Reconcile(r.Context(), since, until)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "reconcile: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// dayParams reads the since and until query parameters, days in UTC; on a
// bad one it answers 400 and returns false.
func dayParams(w http.ResponseWriter, r *http.Request) (since, until time.Time, ok bool) {
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &since}, {"until", &until}} {
		if v := r.URL.Query().Get(b.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				httpError(w, http.StatusBadRequest, b.name+": want a day, YYYY-MM-DD (UTC)")
				return since, until, false
			}
			*b.t = t
		}
	}
	return since, until, true
}
