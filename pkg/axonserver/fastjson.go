package axonserver

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decodeJSON fills out from the JSON document body. The answers that grow with
// the number of contexts and replication groups (Raft status, replication groups,
// contexts, the node's own description) go through fast decoders written for
// their shapes; every other answer, and every document a fast decoder leaves
// alone, goes through encoding/json, which also words the errors. A fast decoder
// gives up at anything it does not decode exactly as encoding/json does, so the
// result is the same either way.
func decodeJSON(body []byte, out any) error {
	switch v := out.(type) {
	case *[]RaftStatus:
		if x, ok := fastDecode(body, (*scan).raftStatuses); ok {
			*v = x
			return nil
		}
	case *[]ReplicationGroup:
		if x, ok := fastDecode(body, (*scan).replicationGroups); ok {
			*v = x
			return nil
		}
	case *[]Context:
		if x, ok := fastDecode(body, (*scan).contexts); ok {
			*v = x
			return nil
		}
	case *NodeInfo:
		if x, ok := fastDecode(body, (*scan).nodeInfo); ok {
			*v = x
			return nil
		}
	}
	return json.Unmarshal(body, out)
}

// fastDecode runs the decoder value on the whole of body: ok only when it took
// the document and nothing but white space follows it.
func fastDecode[T any](body []byte, value func(*scan) T) (T, bool) {
	s := &scan{b: body}
	x := value(s)
	s.ws()
	if s.bad || s.i != len(s.b) {
		var zero T
		return zero, false
	}
	return x, true
}

// scan reads one JSON document for the fast decoders. It accepts only valid
// JSON, and gives up (bad) at anything it would not decode as encoding/json
// does: strings with escapes or bytes outside printable ASCII, keys that match a
// known field only when case is ignored, a field given twice, a value of another
// type than its field's, numbers that are not integers where an integer is due.
type scan struct {
	b   []byte
	i   int
	bad bool
}

// maxDepth bounds the nesting the skipper follows (encoding/json allows 10,000).
const maxDepth = 1000

// ws skips white space.
func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 (and bad) at the end.
func (s *scan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		s.bad = true
		return 0
	}
	return s.b[s.i]
}

// take consumes c when it comes next.
func (s *scan) take(c byte) bool {
	if !s.bad && s.peek() == c {
		s.i++
		return true
	}
	return false
}

// literal consumes the word w (null, true, false) when it comes next.
func (s *scan) literal(w string) bool {
	if !s.bad && s.peek() == w[0] && bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// null consumes a null when it comes next.
func (s *scan) null() bool { return s.literal("null") }

// rawString reads a string without escapes whose bytes are printable ASCII and
// returns its bytes.
func (s *scan) rawString() []byte {
	if !s.take('"') {
		s.bad = true
		return nil
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1]
		case c < ' ' || c > '~' || c == '\\':
			s.bad = true
			return nil
		}
		s.i++
	}
	s.bad = true
	return nil
}

// str reads a string field: null leaves it "".
func (s *scan) str() string {
	if s.null() {
		return ""
	}
	return string(s.rawString())
}

// boolean reads a bool field: null leaves it false.
func (s *scan) boolean() bool {
	switch {
	case s.literal("true"):
		return true
	case s.literal("false"), s.null():
		return false
	}
	s.bad = true
	return false
}

// optBool reads a *bool field: null leaves it nil.
func (s *scan) optBool() *bool {
	if s.null() {
		return nil
	}
	b := s.boolean()
	return &b
}

// integer reads an int64 field, a JSON number without fraction or exponent: null
// leaves it 0.
func (s *scan) integer() int64 {
	if s.null() || s.bad {
		return 0
	}
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.b[digits] == '0') || (s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E')) {
		s.bad = true
		return 0
	}
	x, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		s.bad = true
	}
	return x
}

// int reads an int field: an integer that fits an int.
func (s *scan) int() int {
	x := s.integer()
	if int64(int(x)) != x {
		s.bad = true
	}
	return int(x)
}

// array reads a JSON array, calling elem for each element; null reports false
// and leaves the slice nil. An empty array reports true (an empty, non-nil slice).
func (s *scan) array(elem func()) (present bool) {
	if s.null() {
		return false
	}
	if !s.take('[') {
		s.bad = true
		return false
	}
	if s.take(']') {
		return true
	}
	for !s.bad {
		elem()
		if s.take(']') {
			return true
		}
		if !s.take(',') {
			s.bad = true
		}
	}
	return true
}

// object reads a JSON object, calling field with each key; field reads the value
// and returns the key's bit among the known keys (0: unknown, skip the value
// after checking that the key is no case variant of a known one). A known key
// given twice makes the scan bad. null reports false.
func (s *scan) object(known []string, field func(key []byte) uint64) (present bool) {
	if s.null() {
		return false
	}
	if !s.take('{') {
		s.bad = true
		return false
	}
	if s.take('}') {
		return true
	}
	var seen uint64
	for !s.bad {
		key := s.rawString()
		if !s.take(':') {
			s.bad = true
			return true
		}
		bit := field(key)
		switch {
		case bit == 0:
			s.unknown(key, known)
		case seen&bit != 0:
			s.bad = true
		}
		seen |= bit
		if s.take('}') {
			return true
		}
		if !s.take(',') {
			s.bad = true
		}
	}
	return true
}

// unknown skips the value of a key no field has; a key that equals a known one
// but for case makes the scan bad (encoding/json would fill that field).
func (s *scan) unknown(key []byte, known []string) {
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			s.bad = true
			return
		}
	}
	s.skip(0)
}

// skip reads over any valid JSON value.
func (s *scan) skip(depth int) {
	if depth > maxDepth {
		s.bad = true
		return
	}
	switch c := s.peek(); {
	case s.bad:
	case c == '"':
		s.skipString()
	case c == '{':
		s.i++
		if s.take('}') {
			return
		}
		for !s.bad {
			s.skipString()
			if !s.take(':') {
				s.bad = true
				return
			}
			s.skip(depth + 1)
			if s.take('}') {
				return
			}
			if !s.take(',') {
				s.bad = true
			}
		}
	case c == '[':
		s.i++
		if s.take(']') {
			return
		}
		for !s.bad {
			s.skip(depth + 1)
			if s.take(']') {
				return
			}
			if !s.take(',') {
				s.bad = true
			}
		}
	case c == 't':
		s.bad = !s.literal("true")
	case c == 'f':
		s.bad = !s.literal("false")
	case c == 'n':
		s.bad = !s.literal("null")
	default:
		s.skipNumber()
	}
}

// skipString reads over any valid JSON string, escapes included.
func (s *scan) skipString() {
	if !s.take('"') {
		s.bad = true
		return
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return
		case c < ' ':
			s.bad = true
			return
		case c == '\\':
			s.skipEscape()
			if s.bad {
				return
			}
		}
	}
	s.bad = true
}

// skipEscape reads over the rest of an escape after its backslash.
func (s *scan) skipEscape() {
	if s.i >= len(s.b) {
		s.bad = true
		return
	}
	c := s.b[s.i]
	s.i++
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
	case 'u':
		for range 4 {
			if s.i >= len(s.b) || !isHex(s.b[s.i]) {
				s.bad = true
				return
			}
			s.i++
		}
	default:
		s.bad = true
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber reads over a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scan) skipNumber() {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		s.bad = true
		return
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			s.bad = true
			return
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			s.bad = true
		}
	}
}

// digits reads over decimal digits and returns how many.
func (s *scan) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// strings reads a []string field.
func (s *scan) strings() []string {
	var out []string
	if s.array(func() { out = append(out, s.str()) }) && out == nil {
		out = []string{}
	}
	return out
}

// stringMap reads a map[string]string field whose values are all strings.
func (s *scan) stringMap() map[string]string {
	var out map[string]string
	if s.null() {
		return nil
	}
	if !s.take('{') {
		s.bad = true
		return nil
	}
	out = map[string]string{}
	if s.take('}') {
		return out
	}
	for !s.bad {
		k := string(s.rawString())
		if !s.take(':') || s.peek() != '"' {
			s.bad = true
			return out
		}
		if _, dup := out[k]; dup {
			s.bad = true
		}
		out[k] = string(s.rawString())
		if s.take('}') {
			return out
		}
		if !s.take(',') {
			s.bad = true
		}
	}
	return out
}

// raftStatusKeys are the keys of a RaftStatus, "context" (the older name of
// replicationGroup) included.
var raftStatusKeys = []string{"nodeId", "replicationGroup", "commitIndex", "commitTerm", "lastAppliedIndex",
	"lastAppliedTerm", "lastLogIndex", "lastLogTerm", "firstLogIndex", "firstLogTerm", "minElectionTimeout",
	"maxElectionTimeout", "heartbeatTimeout", "maxEntriesPerBatch", "maxReplicationRound", "flowBuffer",
	"currentTerm", "votedFor", "leaderId", "leaderName", "isLeader", "configuration", "context"}

// raftStatuses reads GET /internal/raft/status.
func (s *scan) raftStatuses() []RaftStatus {
	var out []RaftStatus
	if s.array(func() { out = append(out, s.raftStatus()) }) && out == nil {
		out = []RaftStatus{}
	}
	return out
}

// raftStatus reads one RaftStatus as RaftStatus.UnmarshalJSON does.
func (s *scan) raftStatus() RaftStatus {
	var r RaftStatus
	var context string
	ints := []*int64{nil, nil, &r.CommitIndex, &r.CommitTerm, &r.LastAppliedIndex, &r.LastAppliedTerm,
		&r.LastLogIndex, &r.LastLogTerm, &r.FirstLogIndex, &r.FirstLogTerm, &r.MinElectionTimeout,
		&r.MaxElectionTimeout, &r.HeartbeatTimeout, &r.MaxEntriesPerBatch, &r.MaxReplicationRound,
		&r.FlowBuffer, &r.CurrentTerm}
	s.object(raftStatusKeys, func(key []byte) uint64 {
		i := keyIndex(key, raftStatusKeys)
		switch {
		case i < 0:
			return 0
		case i >= 2 && i <= 16:
			*ints[i] = s.integer()
		}
		switch raftStatusKeys[i] {
		case "nodeId":
			r.NodeID = s.str()
		case "replicationGroup":
			r.ReplicationGroup = s.str()
		case "votedFor":
			r.VotedFor = s.str()
		case "leaderId":
			r.LeaderID = s.str()
		case "leaderName":
			r.LeaderName = s.str()
		case "isLeader":
			r.IsLeader = s.boolean()
		case "configuration":
			r.Configuration = s.raftMembers()
		case "context":
			context = s.str()
		}
		return 1 << i
	})
	if r.ReplicationGroup == "" {
		r.ReplicationGroup = context
	}
	return r
}

// keyIndex is the position of key in keys, -1 when absent.
func keyIndex(key []byte, keys []string) int {
	for i, k := range keys {
		if string(key) == k {
			return i
		}
	}
	return -1
}

var raftMemberKeys = []string{"id", "name", "host", "port", "role"}

// raftMembers reads RaftStatus.Configuration.
func (s *scan) raftMembers() []RaftMember {
	var out []RaftMember
	present := s.array(func() {
		var m RaftMember
		s.object(raftMemberKeys, func(key []byte) uint64 {
			switch string(key) {
			case "id":
				m.ID = s.str()
				return 1
			case "name":
				m.Name = s.str()
				return 2
			case "host":
				m.Host = s.str()
				return 4
			case "port":
				m.Port = s.int()
				return 8
			case "role":
				m.Role = s.str()
				return 16
			}
			return 0
		})
		out = append(out, m)
	})
	if present && out == nil {
		out = []RaftMember{}
	}
	return out
}

var replicationGroupKeys = []string{"name", "leader", "roles", "changePending", "pendingSince", "contexts"}

// replicationGroups reads GET /v1/public/replicationgroups.
func (s *scan) replicationGroups() []ReplicationGroup {
	var out []ReplicationGroup
	if s.array(func() { out = append(out, s.replicationGroup()) }) && out == nil {
		out = []ReplicationGroup{}
	}
	return out
}

// replicationGroup reads one ReplicationGroup.
func (s *scan) replicationGroup() ReplicationGroup {
	var g ReplicationGroup
	s.object(replicationGroupKeys, func(key []byte) uint64 {
		switch string(key) {
		case "name":
			g.Name = s.str()
			return 1
		case "leader":
			g.Leader = s.str()
			return 2
		case "roles":
			g.Roles = s.nodeRoles()
			return 4
		case "changePending":
			g.ChangePending = s.boolean()
			return 8
		case "pendingSince":
			g.PendingSince = s.integer()
			return 16
		case "contexts":
			g.Contexts = s.contexts()
			return 32
		}
		return 0
	})
	return g
}

var nodeRoleKeys = []string{"node", "role"}

// nodeRoles reads a list of NodeRole.
func (s *scan) nodeRoles() []NodeRole {
	var out []NodeRole
	present := s.array(func() {
		var r NodeRole
		s.object(nodeRoleKeys, func(key []byte) uint64 {
			switch string(key) {
			case "node":
				r.Node = s.str()
				return 1
			case "role":
				r.Role = s.str()
				return 2
			}
			return 0
		})
		out = append(out, r)
	})
	if present && out == nil {
		out = []NodeRole{}
	}
	return out
}

var contextKeys = []string{"context", "replicationGroup", "metaData", "changePending", "pendingSince", "leader", "roles", "nodes"}

// contexts reads a list of Context (GET /v1/public/context, and the contexts of
// a replication group).
func (s *scan) contexts() []Context {
	var out []Context
	if s.array(func() { out = append(out, s.context()) }) && out == nil {
		out = []Context{}
	}
	return out
}

// context reads one Context.
func (s *scan) context() Context {
	var c Context
	s.object(contextKeys, func(key []byte) uint64 {
		switch string(key) {
		case "context":
			c.Context = s.str()
			return 1
		case "replicationGroup":
			c.ReplicationGroup = s.str()
			return 2
		case "metaData":
			c.MetaData = s.stringMap()
			return 4
		case "changePending":
			c.ChangePending = s.boolean()
			return 8
		case "pendingSince":
			c.PendingSince = s.integer()
			return 16
		case "leader":
			c.Leader = s.str()
			return 32
		case "roles":
			c.Roles = s.nodeRoles()
			return 64
		case "nodes":
			c.Nodes = s.strings()
			return 128
		}
		return 0
	})
	return c
}

var nodeInfoKeys = []string{"name", "hostName", "grpcPort", "internalHostName", "grpcInternalPort", "httpPort",
	"authentication", "clustered", "ssl", "adminNode", "developmentMode", "contextNames", "storageContextNames",
	"pluginsEnabled", "initialized"}

// nodeInfo reads GET /v1/public/me.
func (s *scan) nodeInfo() NodeInfo {
	var n NodeInfo
	s.object(nodeInfoKeys, func(key []byte) uint64 {
		i := keyIndex(key, nodeInfoKeys)
		switch i {
		case -1:
			return 0
		case 0:
			n.Name = s.str()
		case 1:
			n.HostName = s.str()
		case 2:
			n.GrpcPort = s.int()
		case 3:
			n.InternalHostName = s.str()
		case 4:
			n.GrpcInternalPort = s.int()
		case 5:
			n.HTTPPort = s.int()
		case 6:
			n.Authentication = s.boolean()
		case 7:
			n.Clustered = s.boolean()
		case 8:
			n.SSL = s.boolean()
		case 9:
			n.AdminNode = s.boolean()
		case 10:
			n.DevelopmentMode = s.boolean()
		case 11:
			n.ContextNames = s.strings()
		case 12:
			n.StorageContextNames = s.strings()
		case 13:
			n.PluginsEnabled = s.optBool()
		case 14:
			n.Initialized = s.optBool()
		}
		return 1 << i
	})
	return n
}
