package interp

// evict drops the least recently used inactive tasks beyond the cache
// size. d.mu is held.
func (d *Durable) evict() {
	for el := d.lru.Back(); el != nil && d.lru.Len() > d.opts.Cache; {
		prev := el.Prev()
		t := el.Value.(*proc)
		if !dur(t).active {
			d.lru.Remove(el)
			delete(d.cache, t.id)
			t.drop()
		}
		el = prev
	}
}

// forget drops t from memory: its state is no longer trusted.
func (d *Durable) forget(t *proc) {
	d.mu.Lock()
	if el, ok := d.cache[t.id]; ok && el.Value == t {
		d.lru.Remove(el)
		delete(d.cache, t.id)
	}
	d.mu.Unlock()
	t.drop()
}

// drop releases what an in-memory task holds: timers, running attempts,
// a direct-style coroutine.
func (t *proc) drop() {
	t.stepMu.Lock()
	defer t.stepMu.Unlock()
	for _, fl := range t.inflight {
		if fl.stop != nil {
			fl.stop()
		}
	}
	t.inflight = nil
	if t.m != nil {
		t.m.Stop()
		t.m = nil // a later step must rebuild it from the store
	}
}
