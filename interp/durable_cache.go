package interp

// evict drops the least recently used idle tasks beyond the cache size.
// A task with an attempt running here is not idle: dropping it would lose
// the attempt's outcome, which only this process knows, and the task would
// sit until another worker ran the attempt again. So the cache may hold
// more tasks than its size while that many attempts run. d.mu is held.
func (d *Durable) evict() {
	for el := d.lru.Back(); el != nil && d.lru.Len() > d.opts.Cache; {
		prev := el.Prev()
		t := el.Value.(*proc)
		if !dur(t).active && t.stepMu.TryLock() {
			running := t.attempting()
			t.stepMu.Unlock()
			if !running {
				d.lru.Remove(el)
				delete(d.cache, t.id)
				t.drop()
			}
		}
		el = prev
	}
}

// attempting reports whether an attempt of an activity of t is running.
// t.stepMu held.
func (t *proc) attempting() bool {
	for _, fl := range t.inflight {
		if fl.activity {
			return true
		}
	}
	return false
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
