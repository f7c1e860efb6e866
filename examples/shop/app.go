package main

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/kansa-audit/kansa/audit"
	"github.com/kansa-audit/kansa/audit/gormaudit"
)

// User can log in.
type User struct {
	ID           uint64 `gorm:"primaryKey"`
	Email        string `gorm:"uniqueIndex;not null"`
	Name         string
	PasswordHash string `json:"-" audit:"redacted"` // a change is recorded, its values never
	Salt         string `json:"-" audit:"-"`        // not recorded at all
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Product is the CRUD resource.
type Product struct {
	ID         uint64    `gorm:"primaryKey" json:"id"`
	Name       string    `gorm:"not null" json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int       `json:"stock"`
	Note       string    `json:"note"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Config of the shop.
type Config struct {
	DatabaseURL string
	KansaURL    string
	SpoolDir    string
	Logger      *slog.Logger
	// Output replaces the Client to kansa (tests, benchmarks).
	Output audit.Output
}

// App is the shop: its database, its audit logger and its sessions.
type App struct {
	cfg   Config
	db    *gorm.DB
	audit *audit.Logger

	mu       sync.Mutex
	sessions map[string]uint64 // token → user id
}

// Open connects to the database, migrates it, seeds a user and starts
// the audit logger, with the GORM plugin recording every change.
func Open(cfg Config) (*App, error) {
	return open(cfg, openInstall)
}

// openInstall registers the audit plugin: every create, update and delete
// of every model is recorded after commit.
func openInstall(db *gorm.DB, log *audit.Logger) error {
	plugin, err := gormaudit.New(log, gormaudit.Config{})
	if err != nil {
		return err
	}
	return db.Use(plugin)
}

// open is Open with the way changes are recorded left to install (the
// tests compare the plugin with an audits table in the same database).
func open(cfg Config, install func(*gorm.DB, *audit.Logger) error) (*App, error) {
	out := cfg.Output
	if out == nil {
		c, err := audit.NewClient(audit.ClientConfig{URL: cfg.KansaURL, SpoolDir: cfg.SpoolDir, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		out = c
	}
	log, err := audit.New(audit.Config{Output: out, Source: "app:shop", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(postgres.Open(cfg.DatabaseURL), &gorm.Config{Logger: gormlogger.Discard})
	if err != nil {
		log.Close(context.Background())
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := install(db, log); err != nil {
		log.Close(context.Background())
		return nil, err
	}
	if err := db.AutoMigrate(&User{}, &Product{}); err != nil {
		log.Close(context.Background())
		return nil, fmt.Errorf("migrate: %w", err)
	}
	a := &App{cfg: cfg, db: db, audit: log, sessions: make(map[string]uint64)}
	if err := a.seed(); err != nil {
		log.Close(context.Background())
		return nil, err
	}
	return a, nil
}

// Close flushes and closes the audit logger, then the database.
func (a *App) Close(ctx context.Context) error {
	err := a.audit.Close(ctx)
	if sqlDB, e := a.db.DB(); e == nil {
		err = errors.Join(err, sqlDB.Close())
	}
	return err
}

// seed creates the demo user once, as a job of the "seed" service.
func (a *App) seed() error {
	ctx := audit.Job(context.Background(), audit.Actor{Type: "service", ID: "seed"})
	var n int64
	if err := a.db.WithContext(ctx).Model(&User{}).Where("email = ?", "ayu@example.com").Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	u := User{Email: "ayu@example.com", Name: "Ayu"}
	setPassword(&u, "correct horse")
	return a.db.WithContext(ctx).Create(&u).Error
}

func setPassword(u *User, pw string) {
	salt := make([]byte, 16)
	rand.Read(salt)
	u.Salt = hex.EncodeToString(salt)
	u.PasswordHash = hashPassword(pw, u.Salt)
}

func hashPassword(pw, salt string) string {
	k, _ := pbkdf2.Key(sha256.New, pw, []byte(salt), 10_000, 32)
	return hex.EncodeToString(k)
}

// Handler returns the shop's routes inside the audit middleware.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /products", a.listProducts)
	mux.HandleFunc("POST /products", a.authed(a.createProduct))
	mux.HandleFunc("GET /products/{id}", a.getProduct)
	mux.HandleFunc("PATCH /products/{id}", a.authed(a.updateProduct))
	mux.HandleFunc("DELETE /products/{id}", a.authed(a.deleteProduct))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		a.audit.WritePrometheus(w) // the audit SDK's counters: dropped, spooled, sent
	})
	return audit.Middleware(audit.HTTPConfig{Actor: a.actor})(mux)
}

// actor tells the middleware who makes a request, from its session.
func (a *App) actor(r *http.Request) (audit.Actor, bool) {
	id, ok := a.session(r)
	if !ok {
		return audit.Actor{}, false
	}
	return audit.Actor{Type: "User", ID: strconv.FormatUint(id, 10)}, true
}

func (a *App) session(r *http.Request) (uint64, bool) {
	c, err := r.Cookie("session")
	if err != nil {
		return 0, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.sessions[c.Value]
	return id, ok
}

func (a *App) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.session(r); !ok {
			httpError(w, http.StatusUnauthorized, "log in first: POST /login")
			return
		}
		h(w, r)
	}
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		httpError(w, http.StatusBadRequest, "body: {\"email\":…, \"password\":…}")
		return
	}
	ctx := r.Context()
	var u User
	err := a.db.WithContext(ctx).Where("email = ?", in.Email).First(&u).Error
	if err != nil || !hmac.Equal([]byte(hashPassword(in.Password, u.Salt)), []byte(u.PasswordHash)) {
		// A failed login is recorded too, with who it claimed to be.
		a.audit.Record(ctx, audit.Event{Action: audit.ActionLogin, Outcome: audit.Failure,
			Error: "wrong email or password", Meta: map[string]any{"email": in.Email}})
		httpError(w, http.StatusUnauthorized, "wrong email or password")
		return
	}
	token := make([]byte, 16)
	rand.Read(token)
	a.mu.Lock()
	a.sessions[hex.EncodeToString(token)] = u.ID
	a.mu.Unlock()
	audit.SetActor(ctx, audit.Actor{Type: "User", ID: strconv.FormatUint(u.ID, 10), Name: u.Name})
	a.audit.Record(ctx, audit.Event{Action: audit.ActionLogin})
	http.SetCookie(w, &http.Cookie{Name: "session", Value: hex.EncodeToString(token), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{"user": u.ID, "name": u.Name})
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie("session"); err == nil {
		a.mu.Lock()
		_, ok := a.sessions[c.Value]
		delete(a.sessions, c.Value)
		a.mu.Unlock()
		if ok {
			a.audit.Record(r.Context(), audit.Event{Action: audit.ActionLogout})
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *App) listProducts(w http.ResponseWriter, r *http.Request) {
	var ps []Product
	if err := a.db.WithContext(r.Context()).Order("id").Limit(100).Find(&ps).Error; err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ps)
}

func (a *App) createProduct(w http.ResponseWriter, r *http.Request) {
	var p Product
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Name == "" {
		httpError(w, http.StatusBadRequest, "body: a product with at least a name")
		return
	}
	p.ID = 0
	if err := a.db.WithContext(r.Context()).Create(&p).Error; err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (a *App) load(w http.ResponseWriter, r *http.Request) (*Product, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		httpError(w, http.StatusNotFound, "no such product")
		return nil, false
	}
	var p Product
	if err := a.db.WithContext(r.Context()).First(&p, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			httpError(w, http.StatusNotFound, "no such product")
		} else {
			httpError(w, http.StatusInternalServerError, err.Error())
		}
		return nil, false
	}
	return &p, true
}

func (a *App) getProduct(w http.ResponseWriter, r *http.Request) {
	if p, ok := a.load(w, r); ok {
		writeJSON(w, http.StatusOK, p)
	}
}

// updateProduct loads the product (the audit plugin keeps what it loaded),
// applies the fields given and saves: the event lists only what changed.
func (a *App) updateProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := a.load(w, r)
	if !ok {
		return
	}
	var in struct {
		Name       *string `json:"name"`
		PriceCents *int64  `json:"price_cents"`
		Stock      *int    `json:"stock"`
		Note       *string `json:"note"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		httpError(w, http.StatusBadRequest, "body: the fields to change")
		return
	}
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.PriceCents != nil {
		p.PriceCents = *in.PriceCents
	}
	if in.Stock != nil {
		p.Stock = *in.Stock
	}
	if in.Note != nil {
		p.Note = *in.Note
	}
	if err := a.db.WithContext(r.Context()).Save(p).Error; err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *App) deleteProduct(w http.ResponseWriter, r *http.Request) {
	p, ok := a.load(w, r)
	if !ok {
		return
	}
	if err := a.db.WithContext(r.Context()).Delete(p).Error; err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// slogHandler writes the shop's own logs as JSON lines carrying the request
// scope, so they join the audit events by request_id.
func slogHandler(w *os.File) slog.Handler {
	return audit.NewSlogHandler(slog.NewJSONHandler(w, nil))
}
