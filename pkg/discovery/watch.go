package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// objects is where Discover reads the StatefulSets and pods from: the API server
// (a list per look) or a watch (informers) kept for the command's later looks.
type objects interface {
	statefulSets(ctx context.Context, ns, sel string) ([]appsv1.StatefulSet, error)
	pods(ctx context.Context, ns, sel string) ([]corev1.Pod, error)
}

// listed reads with a list per call.
type listed struct{ cs kubernetes.Interface }

func (l listed) statefulSets(ctx context.Context, ns, sel string) ([]appsv1.StatefulSet, error) {
	list, err := l.cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (l listed) pods(ctx context.Context, ns, sel string) ([]corev1.Pod, error) {
	list, err := l.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// watched reads from informers on one namespace, started at the first look and
// kept until the Cache is closed: the looks of a rolling operation cost the API
// server one list and one watch per kind, not a list each. The informers re-list
// and re-watch by themselves after an API server restart; meanwhile they serve
// what they last saw.
type watched struct {
	ns       string
	sts, pod cache.GenericLister
	stsInf   cache.SharedIndexInformer
}

// watch returns the informer-backed objects of namespace ns for the selectors
// (pods: podSel), starting them at the first call; a failure to sync within ctx
// is returned and the next call tries again.
func (c *Cache) watch(ctx context.Context, cs kubernetes.Interface, ns, sel, podSel string) (objects, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := ns + "\x00" + sel + "\x00" + podSel
	if w, ok := c.watches[key]; ok {
		return w, nil
	}
	stop := make(chan struct{})
	factory := func(s string) informers.SharedInformerFactory {
		return informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = s }))
	}
	stsF, podF := factory(sel), factory(podSel)
	sts := stsF.Apps().V1().StatefulSets()
	pod := podF.Core().V1().Pods()
	stsInf, podInf := sts.Informer(), pod.Informer()
	stsF.Start(stop)
	podF.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), stsInf.HasSynced, podInf.HasSynced) {
		close(stop)
		stsF.Shutdown()
		podF.Shutdown()
		return nil, fmt.Errorf("watching StatefulSets and pods in %s: %w", ns, context.Cause(ctx))
	}
	w := &watched{
		ns: ns, stsInf: stsInf,
		sts: cache.NewGenericLister(stsInf.GetIndexer(), appsv1.Resource("statefulsets")),
		pod: cache.NewGenericLister(podInf.GetIndexer(), corev1.Resource("pods")),
	}
	if c.watches == nil {
		c.watches = map[string]*watched{}
	}
	c.watches[key] = w
	c.stops = append(c.stops, func() { close(stop); stsF.Shutdown(); podF.Shutdown() })
	return w, nil
}

// ErrNotWatched: the Cache keeps no watch of StatefulSets in the namespace.
var ErrNotWatched = errors.New("no watch of StatefulSets kept for the namespace")

// WaitStatefulSet waits until the StatefulSet ns/name, as the Cache's watch sees it,
// satisfies cond, and returns it; it costs the API server nothing. Without a watch
// of the namespace (a look with Query.Watch starts one) it returns ErrNotWatched.
func (c *Cache) WaitStatefulSet(ctx context.Context, ns, name string, cond func(*appsv1.StatefulSet) bool) (*appsv1.StatefulSet, error) {
	var inf cache.SharedIndexInformer
	if c != nil {
		c.mu.Lock()
		for _, w := range c.watches {
			if w.ns == ns {
				inf = w.stsInf
				break
			}
		}
		c.mu.Unlock()
	}
	if inf == nil {
		return nil, ErrNotWatched
	}
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: notify, DeleteFunc: notify,
		UpdateFunc: func(_, o any) { notify(o) }})
	if err != nil {
		return nil, err
	}
	defer func() { _ = inf.RemoveEventHandler(reg) }()
	for {
		obj, ok, err := inf.GetIndexer().GetByKey(ns + "/" + name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("StatefulSet %s/%s is gone", ns, name)
		}
		if s := obj.(*appsv1.StatefulSet); cond(s) {
			return s.DeepCopy(), nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-changed:
		}
	}
}

// Close stops the watches the Cache started.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	stops := c.stops
	c.stops, c.watches = nil, nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range stops {
		wg.Go(s)
	}
	wg.Wait()
}

func (w *watched) statefulSets(_ context.Context, _, _ string) ([]appsv1.StatefulSet, error) {
	objs, err := w.sts.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]appsv1.StatefulSet, 0, len(objs))
	for _, o := range objs {
		out = append(out, *o.(*appsv1.StatefulSet).DeepCopy())
	}
	return out, nil
}

func (w *watched) pods(_ context.Context, _, _ string) ([]corev1.Pod, error) {
	objs, err := w.pod.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, *o.(*corev1.Pod).DeepCopy())
	}
	return out, nil
}
