package footage

import (
	"container/list"
	"sync"
)

// Bounds of the plan cache. A plan holds its MP4 header (about 4 bytes a
// sample) and one extent per fragment: a 24-hour clip at 30 fps is about
// 16 MB, an hour well under 1 MB.
const (
	// maxCachedPlans: a few viewers seeking in a few clips each.
	maxCachedPlans = 32
	// maxCacheBytes bounds the memory of all cached plans together.
	maxCacheBytes = 128 << 20
)

// planKey names a requested clip.
type planKey struct {
	camera, stream string
	startNS, endNS int64
	timestamps     bool
	loc            string
}

// rowsPrint identifies the index rows a plan was made from
// (storage.Store.RangeVersion): a plan is reused only while the range
// lists the same rows, with the same ends, sizes and states (a growing
// segment, a finished one or one deleted by retention changes it).
type rowsPrint = [32]byte

// planCache is a least-recently-used cache of plans, bounded in entries
// and in bytes. It is safe for concurrent use.
type planCache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int64
	bytes      int64
	lru        *list.List // of *cacheEntry, most recent first
	byKey      map[planKey]*list.Element
}

type cacheEntry struct {
	key   planKey
	rows  rowsPrint
	plan  *plan
	bytes int64
}

func newPlanCache(maxEntries int, maxBytes int64) *planCache {
	return &planCache{maxEntries: maxEntries, maxBytes: maxBytes, lru: list.New(), byKey: map[planKey]*list.Element{}}
}

// get returns the plan of key if it was made from the same rows.
func (c *planCache) get(key planKey, rows rowsPrint) *plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if e.rows != rows {
		c.remove(el)
		return nil
	}
	c.lru.MoveToFront(el)
	return e.plan
}

// put keeps p as the plan of key made from rows, evicting the least
// recently used plans beyond the bounds. A plan larger than the whole
// budget is not kept.
func (c *planCache) put(key planKey, rows rowsPrint, p *plan) {
	size := p.clip.MemBytes() + int64(len(p.segs))*segmentBytes
	if size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	c.byKey[key] = c.lru.PushFront(&cacheEntry{key: key, rows: rows, plan: p, bytes: size})
	c.bytes += size
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

// segmentBytes is about what a plan's copy of one index row costs.
const segmentBytes = 200

func (c *planCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.byKey, e.key)
	c.bytes -= e.bytes
}
