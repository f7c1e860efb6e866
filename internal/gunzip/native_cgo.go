//go:build cgo && unix

package gunzip

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// libdeflate's decompression calls (libdeflate.h, stable since 1.0), looked
// up at run time so that building kansa needs no libdeflate.
typedef void *(*kz_alloc_fn)(void);
typedef void (*kz_free_fn)(void *);
typedef int (*kz_gunzip_fn)(void *, const void *, size_t, void *, size_t, size_t *, size_t *);

static kz_alloc_fn kz_alloc;
static kz_free_fn kz_free;
static kz_gunzip_fn kz_gunzip;

static int kz_load(void) {
	static const char *names[] = {"libdeflate.so.0", "libdeflate.so", "libdeflate.0.dylib", "libdeflate.dylib"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (h == NULL) continue;
		kz_alloc = (kz_alloc_fn)dlsym(h, "libdeflate_alloc_decompressor");
		kz_free = (kz_free_fn)dlsym(h, "libdeflate_free_decompressor");
		kz_gunzip = (kz_gunzip_fn)dlsym(h, "libdeflate_gzip_decompress_ex");
		if (kz_alloc != NULL && kz_free != NULL && kz_gunzip != NULL) return 1;
		dlclose(h);
	}
	return 0;
}

static void *kz_new(void) { return kz_alloc(); }
static void kz_del(void *d) { kz_free(d); }

// kz_member inflates one gzip member: 0 on success, 3 when out is too
// small, another libdeflate result when the data is bad.
static int kz_member(void *d, const void *in, size_t in_len, void *out, size_t out_len, size_t *in_used, size_t *out_used) {
	return kz_gunzip(d, in, in_len, out, out_len, in_used, out_used);
}
*/
import "C"

import (
	"slices"
	"unsafe"
)

type native struct{ d unsafe.Pointer }

func loadNative() bool { return C.kz_load() == 1 }

func newNative() *native {
	d := C.kz_new()
	if d == nil {
		return nil
	}
	return &native{d}
}

func (n *native) free() { C.kz_del(n.d) }

// libdeflate's result when the output buffer is too small.
const insufficientSpace = 3

// appendAll inflates every member of src onto dst; ok is false if
// libdeflate refuses a member, and then out's bytes past len(dst) are
// garbage.
func (n *native) appendAll(dst, src []byte) (out []byte, ok bool) {
	if cap(dst)-len(dst) < 4*len(src) {
		dst = slices.Grow(dst, 4*len(src))
	}
	for len(src) > 0 {
		var used int
		if dst, used, ok = n.appendMember(dst, src); !ok {
			return dst, false
		}
		src = src[used:]
	}
	return dst, true
}

// appendMember inflates src's first member onto dst and says how many
// bytes of src it took; ok is false if libdeflate refuses it.
func (n *native) appendMember(dst, src []byte) (out []byte, used int, ok bool) {
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(cap(dst), growth))
		}
		var inUsed, outUsed C.size_t
		free := dst[len(dst):cap(dst)]
		r := C.kz_member(n.d, unsafe.Pointer(&src[0]), C.size_t(len(src)),
			unsafe.Pointer(&free[0]), C.size_t(len(free)), &inUsed, &outUsed)
		switch {
		case r == 0:
			return dst[:len(dst)+int(outUsed)], int(inUsed), true
		case r == insufficientSpace:
			// At least double the room: Grow counts from len, not cap.
			dst = slices.Grow(dst, cap(dst)-len(dst)+max(cap(dst), growth))
		default:
			return dst, 0, false
		}
	}
}
