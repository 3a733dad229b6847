package fdb

// OnChange registers fn to be called after every add, move, delete and age
// of an entry (Learn refreshes are not reported). fn is called from the
// goroutine that made the change, including the datapath goroutines that
// call Learn, after every lock is released: it must not block (hand the
// event to a channel or queue) but may call methods of the Table. Events
// of different keys may be delivered out of order when changes happen
// concurrently. There is no way to unregister.
func (t *Table) OnChange(fn func(ev Event)) {
	if fn == nil {
		return
	}
	t.subscribers.Lock()
	defer t.subscribers.Unlock()
	var fns []func(Event)
	if p := t.subscribers.fns.Load(); p != nil {
		fns = append(fns, *p...)
	}
	fns = append(fns, fn)
	t.subscribers.fns.Store(&fns)
}

func (t *Table) hasSubscribers() bool {
	p := t.subscribers.fns.Load()
	return p != nil && len(*p) > 0
}

// notify calls every subscriber with ev. The caller holds no lock.
func (t *Table) notify(ev Event) {
	p := t.subscribers.fns.Load()
	if p == nil {
		return
	}
	for _, fn := range *p {
		fn(ev)
	}
}
