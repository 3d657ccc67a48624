/*
 * stack_unix.c - coroutine stacks on POSIX systems: where they come from,
 * and their guards.
 *
 * Every stack has a guard below it, COSTACK_DEFAULT_GUARD_SIZE unless the
 * creator asked for another: inaccessible memory, so that a frame which
 * overflows the stack faults there (platform_unix.c names the overflow)
 * instead of writing into whatever lies below.  A frame larger than the
 * guard can jump it; code with such frames must be built with
 * -fstack-clash-protection, which probes every page (costack.h).
 *
 * Two ways to guard, chosen once per process by a probe:
 *
 * Guard markers (Linux 6.13+, where madvise(MADV_GUARD_INSTALL) works): a
 * guard marker does not split a mapping, so stacks up to SLAB_STACK_MAX are
 * slots carved from large anonymous mappings (slabs), one slab list per
 * stack and guard size.  A slot is [guard][usable stack].  A slab stays one
 * kernel mapping (and adjacent slabs merge), whatever the number of stacks:
 * a million guarded stacks need a few hundred mappings, not two million.  A
 * freed stack goes back to its slab guarded whole: guard markers over its
 * usable part too give its memory back to the kernel and make any later
 * access fault, as if it were unmapped (a dangling pointer into a finished
 * coroutine's stack crashes instead of reading zeros); they come off when
 * the slot is reused.  Markers need page tables, so larger stacks get a
 * mapping of their own (guarded by a marker, unmapped when freed), and
 * empty slabs are unmapped: a few are kept to absorb the next burst, and
 * costack__stack_trim (costack_pool_set_max) unmaps those too.
 *
 * mprotect (older kernels, other Unixes, or the environment variable
 * COSTACK_NO_MADV_GUARD=1).  An mprotect guard splits a mapping in two
 * wherever it is placed: carving slabs would save the mmap call but not a
 * single kernel mapping, so each stack has a mapping of its own, unmapped
 * when the stack is freed.
 *
 * The kernel allows vm.max_map_count mappings per process (65530 by
 * default).  The stacks may use all but a reserve of them (5000, as QEMU
 * leaves); past that costack__stack_map fails with ENOMEM instead of
 * starving the rest of the process (malloc, thread stacks, dlopen) of
 * mappings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "platform.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define COSTACK_HAVE_VALGRIND 1
#endif
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif

/* Valgrind does not know that guard markers make memory inaccessible: left
 * addressable in its books, every free slot and guard would be read (and
 * fault, page after page) by memcheck's leak scan at exit, and an access
 * to a freed stack would be a bare SIGSEGV instead of a memcheck report.
 * So memcheck is told: slab memory is no-access until a stack takes it. */
#if defined(VALGRIND_MAKE_MEM_NOACCESS)
#define VG_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define VG_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define VG_NOACCESS(p, n) ((void)0)
#define VG_DEFINED(p, n) ((void)0)
#endif

/* Linux 6.13: guard pages that do not split a mapping. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

#define MAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK)

/* Mappings left to the rest of the process. */
#define MAPPING_RESERVE 5000
/* The largest slab, in bytes of address space (it is reserved, not
 * committed: MAP_NORESERVE, and pages only count once touched). */
#define SLAB_MAX_BYTES (sizeof(void *) >= 8 ? (size_t)64 << 20 : (size_t)4 << 20)
/* The largest stack carved from slabs: a slab holds at least 7 of them. */
#define SLAB_STACK_MAX (SLAB_MAX_BYTES / 8)
/* Slots in the first slab of a class; each further slab doubles, up to
 * SLAB_MAX_BYTES, so a program with three coroutines maps little. */
#define SLAB_FIRST_SLOTS 4
/* Empty slabs kept for reuse, over all classes; at most one per class. */
#define EMPTY_SLABS_KEPT 4

/* ---- mode and budget --------------------------------------------------- */

enum { MODE_SLABS = 1, MODE_OWN_MAPPING = 2 };

static struct {
    pthread_once_t once;
    int mode;
    size_t max_maps; /* kernel mappings the stacks may use */
    size_t maps;     /* kernel mappings they use now (atomic) */
    size_t bytes;    /* address space mapped for stacks (atomic) */
    size_t empty_kept; /* empty slabs kept, over all classes (atomic) */
} g = {PTHREAD_ONCE_INIT, 0, 0, 0, 0, 0};

/* The kernel's limit on mappings per process, or 0 when there is none. */
static size_t max_map_count(void)
{
#if defined(__linux__)
    long v = 65530; /* the default, if /proc is not there */
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        long r;
        if (fscanf(f, "%ld", &r) == 1 && r > 0)
            v = r;
        fclose(f);
    }
    return (size_t)v;
#else
    return 0;
#endif
}

/* Whether guard markers really guard: the advice must be accepted and the
 * kernel must then refuse to read the page (an emulator may accept advice
 * it ignores: qemu-user does). */
static int guard_markers_work(char *p, size_t page)
{
    int fds[2], ok;
    if (madvise(p, page, MADV_GUARD_INSTALL) != 0 || pipe(fds) != 0)
        return 0;
    ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
    return ok;
}

static void probe_mode(void)
{
    size_t page = costack__page_size();
    size_t limit = max_map_count();
    char *p;

    g.mode = MODE_OWN_MAPPING;
    p = (char *)mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_FLAGS, -1, 0);
    if (p != (char *)MAP_FAILED) {
        if (getenv("COSTACK_NO_MADV_GUARD") == NULL &&
            guard_markers_work(p, page))
            g.mode = MODE_SLABS;
        munmap(p, 2 * page);
    }
    if (limit == 0) {
        g.max_maps = (size_t)-1;
    } else {
        size_t reserve = limit / 2 < MAPPING_RESERVE ? limit / 2 : MAPPING_RESERVE;
        g.max_maps = limit - reserve;
    }
}

static int mode(void)
{
    pthread_once(&g.once, probe_mode);
    return g.mode;
}

size_t costack__platform_pool_cap(void)
{
    /* mprotect-guarded stacks take two mappings each; slab stacks none of
     * their own (the large ones, with a mapping each, are rare). */
    return mode() == MODE_SLABS ? (size_t)-1 : g.max_maps / 2;
}

/* Take n kernel mappings from the budget: 0, or -1 with errno ENOMEM. */
static int maps_take(size_t n)
{
    if (__atomic_add_fetch(&g.maps, n, __ATOMIC_RELAXED) > g.max_maps) {
        __atomic_sub_fetch(&g.maps, n, __ATOMIC_RELAXED);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* mmap for stacks, counted against the budget and in the address space
 * costack holds; nmaps is how many mappings the result will be. */
static char *map_stacks(size_t bytes, size_t nmaps)
{
    void *p;
    if (maps_take(nmaps) != 0)
        return NULL;
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_FLAGS, -1, 0);
    if (p == MAP_FAILED) {
        __atomic_sub_fetch(&g.maps, nmaps, __ATOMIC_RELAXED);
        errno = ENOMEM;
        return NULL;
    }
    __atomic_add_fetch(&g.bytes, bytes, __ATOMIC_RELAXED);
    return (char *)p;
}

static void unmap_stacks(char *p, size_t bytes, size_t nmaps)
{
    munmap(p, bytes);
    __atomic_sub_fetch(&g.maps, nmaps, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&g.bytes, bytes, __ATOMIC_RELAXED);
}

size_t costack__stack_address_space(size_t stack_bytes)
{
    (void)stack_bytes;
    return __atomic_load_n(&g.bytes, __ATOMIC_RELAXED);
}

/* ---- slabs ------------------------------------------------------------- */

typedef struct SlabClass SlabClass;

typedef struct Slab {
    SlabClass *cls;
    struct Slab *prev, *next; /* in cls->avail while a slot is free */
    char *base;
    size_t bytes;
    uint32_t nslots;
    uint32_t carved; /* slots [0, carved) have their guard */
    uint32_t in_use;
    uint32_t nfree;
    uint32_t free_idx[]; /* nslots entries: freed (guarded whole) slots */
} Slab;

/* All slabs of one stack and guard size.  Classes are never freed (one per
 * size pair the program ever used, a few dozen bytes each); their slabs
 * are. */
struct SlabClass {
    SlabClass *next; /* immutable once published */
    size_t size;     /* usable bytes of each stack */
    size_t guard;    /* guard bytes below each */
    size_t slot;     /* guard + size */
    pthread_mutex_t lock;
    Slab *avail;     /* slabs with a free or never-carved slot */
    size_t nslabs;   /* slabs mapped */
    size_t nempty;   /* of those, slabs with no stack in use */
};

static SlabClass *classes;
static pthread_mutex_t classes_lock = PTHREAD_MUTEX_INITIALIZER;

static SlabClass *find_class(SlabClass *c, size_t size, size_t guard)
{
    for (; c; c = c->next)
        if (c->size == size && c->guard == guard)
            return c;
    return NULL;
}

static SlabClass *get_class(size_t size, size_t guard)
{
    SlabClass *head = __atomic_load_n(&classes, __ATOMIC_ACQUIRE);
    SlabClass *c = find_class(head, size, guard);

    if (c)
        return c;
    pthread_mutex_lock(&classes_lock);
    c = find_class(classes, size, guard);
    if (!c) {
        c = (SlabClass *)calloc(1, sizeof(*c));
        if (c) {
            c->size = size;
            c->guard = guard;
            c->slot = guard + size;
            pthread_mutex_init(&c->lock, NULL);
            c->next = classes;
            __atomic_store_n(&classes, c, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&classes_lock);
    if (!c)
        errno = ENOMEM;
    return c;
}

static void avail_link(SlabClass *c, Slab *s)
{
    s->prev = NULL;
    s->next = c->avail;
    if (c->avail)
        c->avail->prev = s;
    c->avail = s;
}

static void avail_unlink(SlabClass *c, Slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->avail = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

/* Map a new, empty slab for c.  Called without c->lock (mmap is slow);
 * nslabs is a hint for its size only. */
static Slab *slab_new(SlabClass *c, size_t nslabs)
{
    size_t max_slots = SLAB_MAX_BYTES / c->slot;
    size_t n = nslabs < 16 ? (size_t)SLAB_FIRST_SLOTS << nslabs : max_slots;
    Slab *s;
    char *p;

    if (n > max_slots)
        n = max_slots;
    if (n == 0)
        n = 1; /* a guard larger than a slab: a slab of one */
    s = (Slab *)malloc(sizeof(*s) + n * sizeof(s->free_idx[0]));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    p = map_stacks(n * c->slot, 1);
    if (!p) {
        free(s);
        return NULL;
    }
    VG_NOACCESS(p, n * c->slot);
    s->cls = c;
    s->prev = s->next = NULL;
    s->base = p;
    s->bytes = n * c->slot;
    s->nslots = (uint32_t)n;
    s->carved = 0;
    s->in_use = 0;
    s->nfree = 0;
    return s;
}

static void slab_free(Slab *s)
{
    unmap_stacks(s->base, s->bytes, 1);
    free(s);
}

static void slab_give_back(CostackStack *st);

static int slab_take(CostackStack *st, size_t size, size_t guard)
{
    SlabClass *c = get_class(size, guard);
    Slab *s;
    uint32_t idx;
    char *slot;
    int fresh;

    if (!c)
        return -1;
    pthread_mutex_lock(&c->lock);
    while (!(s = c->avail)) {
        size_t nslabs = c->nslabs;
        pthread_mutex_unlock(&c->lock);
        s = slab_new(c, nslabs);
        if (!s)
            return -1;
        pthread_mutex_lock(&c->lock);
        avail_link(c, s);
        c->nslabs++;
        c->nempty++;
        __atomic_add_fetch(&g.empty_kept, 1, __ATOMIC_RELAXED);
    }
    fresh = s->nfree == 0;
    if (!fresh) {
        idx = s->free_idx[--s->nfree];
    } else {
        /* First use of this slot: its guard, for the life of the slab
         * (freeing and reusing the slot guard and unguard only the usable
         * part). */
        idx = s->carved;
        if (madvise(s->base + (size_t)idx * c->slot, guard,
                    MADV_GUARD_INSTALL) != 0) {
            pthread_mutex_unlock(&c->lock);
            errno = ENOMEM;
            return -1;
        }
        s->carved++;
    }
    if (s->in_use++ == 0) {
        c->nempty--;
        __atomic_sub_fetch(&g.empty_kept, 1, __ATOMIC_RELAXED);
    }
    if (s->nfree == 0 && s->carved == s->nslots)
        avail_unlink(c, s);
    pthread_mutex_unlock(&c->lock);

    slot = s->base + (size_t)idx * c->slot;
    st->owner = s;
    st->guard = slot;
    st->guard_size = guard;
    st->lo = slot + guard;
    st->size = size;
    st->map = slot;
    st->map_size = c->slot;
    if (!fresh && madvise(st->lo, size, MADV_GUARD_REMOVE) != 0) {
        slab_give_back(st);
        errno = ENOMEM;
        return -1;
    }
    VG_DEFINED(st->lo, size); /* untouched pages: zeros */
    return 0;
}

static void slab_give_back(CostackStack *st)
{
    Slab *s = (Slab *)st->owner;
    SlabClass *c = s->cls;
    Slab *doomed = NULL;

    /* Guard the whole slot: its memory goes back to the kernel now, later
     * accesses fault, and the next stack here starts untouched (so its
     * high-water mark is its own).  Should that fail (no memory for page
     * tables), at least give the memory back. */
    if (madvise(st->lo, st->size, MADV_GUARD_INSTALL) != 0)
        madvise(st->lo, st->size, MADV_DONTNEED);
    VG_NOACCESS(st->lo, st->size);

    pthread_mutex_lock(&c->lock);
    if (s->nfree == 0 && s->carved == s->nslots)
        avail_link(c, s); /* it was full */
    s->free_idx[s->nfree++] = (uint32_t)((st->guard - s->base) / c->slot);
    if (--s->in_use == 0) {
        /* Empty: kept for the next burst if it is the class's only empty
         * slab and few are kept overall, else unmapped. */
        if (c->nempty == 0 &&
            __atomic_add_fetch(&g.empty_kept, 1, __ATOMIC_RELAXED) <=
                EMPTY_SLABS_KEPT) {
            c->nempty++;
        } else {
            if (c->nempty == 0)
                __atomic_sub_fetch(&g.empty_kept, 1, __ATOMIC_RELAXED);
            avail_unlink(c, s);
            c->nslabs--;
            doomed = s;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (doomed)
        slab_free(doomed);
}

void costack__stack_trim(void)
{
    SlabClass *c;
    if (mode() != MODE_SLABS)
        return;
    for (c = __atomic_load_n(&classes, __ATOMIC_ACQUIRE); c; c = c->next) {
        Slab *s, *next, *doomed = NULL;
        pthread_mutex_lock(&c->lock);
        for (s = c->avail; s; s = next) {
            next = s->next;
            if (s->in_use == 0) {
                avail_unlink(c, s);
                c->nslabs--;
                c->nempty--;
                __atomic_sub_fetch(&g.empty_kept, 1, __ATOMIC_RELAXED);
                s->next = doomed;
                doomed = s;
            }
        }
        pthread_mutex_unlock(&c->lock);
        while (doomed) {
            s = doomed;
            doomed = s->next;
            slab_free(s);
        }
    }
}

void costack__stack_fork_lock(void)
{
    SlabClass *c;
    pthread_mutex_lock(&classes_lock);
    for (c = classes; c; c = c->next)
        pthread_mutex_lock(&c->lock);
}

void costack__stack_fork_unlock(void)
{
    SlabClass *c;
    for (c = classes; c; c = c->next)
        pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&classes_lock);
}

/* ---- one mapping per stack ---------------------------------------------- */

/* Kernel mappings a stack of its own takes: one where its guard is a
 * marker, two where mprotect splits it. */
static size_t own_maps(void)
{
    return mode() == MODE_SLABS ? 1 : 2;
}

/* A mapping of the stack's own, [guard][usable stack]: a guard marker where
 * markers work, mprotect otherwise. */
static int own_map(CostackStack *st, size_t size, size_t guard)
{
    size_t total = guard + size;
    size_t nmaps = own_maps();
    char *p = map_stacks(total, nmaps);
    int guarded;

    if (!p)
        return -1;
    if (nmaps == 1)
        guarded = madvise(p, guard, MADV_GUARD_INSTALL) == 0;
    else
        guarded = mprotect(p, guard, PROT_NONE) == 0;
    if (!guarded) {
        unmap_stacks(p, total, nmaps);
        errno = ENOMEM;
        return -1;
    }
    st->owner = NULL;
    st->map = p;
    st->map_size = total;
    st->guard = p;
    st->guard_size = guard;
    st->lo = p + guard;
    st->size = size;
    return 0;
}

static void own_unmap(CostackStack *st)
{
    unmap_stacks((char *)st->map, st->map_size, own_maps());
}

/* ---- the interface ------------------------------------------------------ */

int costack__stack_map(CostackStack *st, size_t size, size_t guard)
{
    int rc = mode() == MODE_SLABS && size <= SLAB_STACK_MAX
                 ? slab_take(st, size, guard)
                 : own_map(st, size, guard);
    if (rc != 0)
        return -1;
#ifdef COSTACK_HAVE_VALGRIND
    st->debug_id = VALGRIND_STACK_REGISTER(st->lo, st->lo + size);
#else
    st->debug_id = 0;
#endif
    return 0;
}

void costack__stack_unmap(CostackStack *st)
{
    if (!st->map)
        return;
#ifdef COSTACK_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(st->debug_id);
#endif
    if (st->owner)
        slab_give_back(st);
    else
        own_unmap(st);
    st->map = NULL;
    st->owner = NULL;
}
