-- SPDX-License-Identifier: BSD-3-Clause
--
-- Wireshark dissector for the bidplane wire protocol, version 1
-- (docs/PROTOCOL.md): every field of every message, statuses and states by
-- name, the REPLAYED flag, HLC stamps split into Unix milliseconds and the
-- logical counter, and expert infos for what the node would drop or answer
-- MALFORMED (short, bad magic, wrong length, flags on a request, non-zero
-- reserved bytes, unknown type, unsupported version).
--
-- UDP port 7600 (the node's default --udp-port) and 7601 (reserved for the
-- node-to-node protocol, types 0x10-0x1F, not designed yet: its header is
-- decoded and the type shown as "peer (reserved)").
--
-- Use:  tshark -X lua_script:dist/wireshark/bidplane.lua -r capture.pcapng
--       or copy it to ~/.local/lib/wireshark/plugins/ (docs/CAPTURE.md).
--       Another port: Decode As... > UDP port > BIDPLANE, or
--       tshark -d udp.port==9000,bidplane.

local bidplane = Proto("bidplane", "bidplane bid protocol")

local MAGIC = 0xB1D5
local HEADER_LEN = 8
local UDP_PORT = 7600
local PEER_PORT = 7601

local T_BID, T_BID_REPLY, T_QUERY, T_STATE, T_WATCH, T_UNWATCH = 1, 2, 3, 4, 5, 6

local type_names = {
	[T_BID] = "BID",
	[T_BID_REPLY] = "BID_REPLY",
	[T_QUERY] = "QUERY",
	[T_STATE] = "AUCTION_STATE",
	[T_WATCH] = "WATCH",
	[T_UNWATCH] = "UNWATCH",
}
for t = 0x10, 0x1F do
	type_names[t] = "peer (reserved)"
end

local function is_peer(t)
	return t >= 0x10 and t <= 0x1F
end

-- The exact length of each client message (the header's length field and
-- the UDP payload must both equal it).
local type_length = {
	[T_BID] = 48,
	[T_BID_REPLY] = 64,
	[T_QUERY] = 24,
	[T_STATE] = 88,
	[T_WATCH] = 32,
	[T_UNWATCH] = 32,
}

local status_names = {
	[0] = "ACCEPTED",
	[1] = "TOO_LOW",
	[2] = "CLOSED",
	[3] = "UNKNOWN_AUCTION",
	[4] = "MALFORMED",
	[5] = "OVERLOADED",
	[6] = "UNSUPPORTED_VERSION",
	[7] = "NOT_SERVING",
	[8] = "CONFLICT",
}

local state_names = {[0] = "unknown", [1] = "open", [2] = "closed"}

local F = ProtoField
local f = {
	magic = F.uint16("bidplane.magic", "Magic", base.HEX),
	version = F.uint8("bidplane.version", "Version", base.DEC),
	type = F.uint8("bidplane.type", "Type", base.HEX, type_names),
	length = F.uint16("bidplane.length", "Length", base.DEC),
	flags = F.uint16("bidplane.flags", "Flags", base.HEX),
	replayed = F.bool("bidplane.flags.replayed", "REPLAYED", 16, nil, 0x0001),
	flags_reserved = F.uint16("bidplane.flags.reserved", "Reserved flags", base.HEX, nil,
		0xFFFE),
	request_id = F.uint64("bidplane.request_id", "Request id", base.DEC),
	auction_id = F.uint64("bidplane.auction_id", "Auction id", base.DEC),
	bidder_id = F.uint64("bidplane.bidder_id", "Bidder id", base.DEC),
	amount = F.uint64("bidplane.amount", "Amount", base.DEC),
	client_ts = F.uint64("bidplane.client_ts", "Client timestamp", base.DEC),
	viewer_id = F.uint64("bidplane.viewer_id", "Viewer id", base.DEC),
	status = F.uint8("bidplane.status", "Status", base.DEC, status_names),
	state = F.uint8("bidplane.state", "State", base.DEC, state_names),
	reserved = F.bytes("bidplane.reserved", "Reserved"),
	leading_amount = F.uint64("bidplane.leading_amount", "Leading amount", base.DEC),
	leading_bidder = F.uint64("bidplane.leading_bidder", "Leading bidder", base.DEC),
	bid_count = F.uint64("bidplane.bid_count", "Bid count", base.DEC),
	viewers = F.uint64("bidplane.viewers", "Viewers", base.DEC),
	close_at_ms = F.uint64("bidplane.close_at_ms", "Close at (Unix ms)", base.DEC),
	close_at = F.absolute_time("bidplane.close_at", "Close at", base.UTC),
	peer_body = F.bytes("bidplane.peer_body", "Peer message body"),
	trailing = F.bytes("bidplane.trailing", "Bytes beyond the message"),
}

-- An HLC stamp: the 64-bit value, its high 48 bits (Unix milliseconds, also
-- shown as a time) and its low 16 bits (logical counter).
local function hlc_fields(key, label)
	return {
		value = F.uint64("bidplane." .. key, label, base.HEX),
		ms = F.uint64("bidplane." .. key .. ".ms", label .. " physical (Unix ms)", base.DEC),
		time = F.absolute_time("bidplane." .. key .. ".time", label .. " physical", base.UTC),
		logical = F.uint16("bidplane." .. key .. ".logical", label .. " logical", base.DEC),
	}
end
local hlc = {
	hlc = hlc_fields("hlc", "HLC stamp"),
	leading_hlc = hlc_fields("leading_hlc", "Leading HLC stamp"),
	node_hlc = hlc_fields("node_hlc", "Node HLC"),
}

local all_fields = {}
for _, v in pairs(f) do
	all_fields[#all_fields + 1] = v
end
for _, h in pairs(hlc) do
	for _, v in pairs(h) do
		all_fields[#all_fields + 1] = v
	end
end
bidplane.fields = all_fields

local E = ProtoExpert
local ex = {
	short = E.new("bidplane.short", "Shorter than the 8-byte header: the node drops it",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_magic = E.new("bidplane.bad_magic", "Magic is not 0xB1D5: the node drops it",
		expert.group.MALFORMED, expert.severity.ERROR),
	truncated = E.new("bidplane.truncated", "Message shorter than its type's length",
		expert.group.MALFORMED, expert.severity.ERROR),
	too_long = E.new("bidplane.too_long", "Message longer than its type's length",
		expert.group.MALFORMED, expert.severity.ERROR),
	length_field = E.new("bidplane.length_mismatch",
		"Length field does not equal the UDP payload length", expert.group.MALFORMED,
		expert.severity.ERROR),
	version = E.new("bidplane.unsupported_version", "Version is not 1",
		expert.group.PROTOCOL, expert.severity.WARN),
	unknown_type = E.new("bidplane.unknown_type", "Unknown message type: the node drops it",
		expert.group.PROTOCOL, expert.severity.WARN),
	peer_type = E.new("bidplane.peer_type",
		"Node-to-node type (reserved; never accepted from clients)", expert.group.PROTOCOL,
		expert.severity.NOTE),
	request_flags = E.new("bidplane.request_flags", "Flags must be 0 in a request",
		expert.group.PROTOCOL, expert.severity.WARN),
	reserved = E.new("bidplane.reserved_nonzero", "Reserved bytes are not zero",
		expert.group.PROTOCOL, expert.severity.WARN),
}
bidplane.experts = {
	ex.short, ex.bad_magic, ex.truncated, ex.too_long, ex.length_field, ex.version,
	ex.unknown_type, ex.peer_type, ex.request_flags, ex.reserved,
}

-- The layouts after the header: {offset, kind, name}; kinds are "u64"
-- (a field of f), "hlc" (a stamp of hlc), "status", "state", "reserved".
local layouts = {
	[T_BID] = {
		{8, "u64", "request_id"}, {16, "u64", "auction_id"}, {24, "u64", "bidder_id"},
		{32, "u64", "amount"}, {40, "u64", "client_ts"},
	},
	[T_BID_REPLY] = {
		{8, "u64", "request_id"}, {16, "u64", "auction_id"}, {24, "status"},
		{25, "reserved", 7}, {32, "u64", "leading_amount"}, {40, "u64", "leading_bidder"},
		{48, "hlc", "hlc"}, {56, "u64", "client_ts"},
	},
	[T_QUERY] = {{8, "u64", "request_id"}, {16, "u64", "auction_id"}},
	[T_WATCH] = {{8, "u64", "request_id"}, {16, "u64", "auction_id"}, {24, "u64", "viewer_id"}},
	[T_STATE] = {
		{8, "u64", "request_id"}, {16, "u64", "auction_id"}, {24, "status"}, {25, "state"},
		{26, "reserved", 6}, {32, "u64", "leading_amount"}, {40, "u64", "leading_bidder"},
		{48, "hlc", "leading_hlc"}, {56, "u64", "bid_count"}, {64, "u64", "viewers"},
		{72, "close_at"}, {80, "hlc", "node_hlc"},
	},
}
layouts[T_UNWATCH] = layouts[T_WATCH]

local function field_size(item)
	local kind = item[2]
	if kind == "status" or kind == "state" then
		return 1
	elseif kind == "reserved" then
		return item[3]
	end
	return 8
end

-- Unix milliseconds (a UInt64) as an NSTime.
local function ms_time(ms)
	local secs = (ms / 1000):tonumber()
	local rem = (ms % 1000):tonumber()
	return NSTime.new(secs, rem * 1000000)
end

local function add_hlc(tree, h, range)
	local stamp = tree:add(h.value, range)
	local ms = range(0, 6):uint64()
	stamp:add(h.ms, range(0, 6))
	stamp:add(h.time, range(0, 6), ms_time(ms))
	stamp:add(h.logical, range(6, 2))
	stamp:append_text(string.format(" (%s ms, logical %d)", tostring(ms), range(6, 2):uint()))
end

-- Adds one body field; returns a summary fragment for the Info column.
local function add_field(tree, item, range)
	local kind, name = item[2], item[3]
	if kind == "u64" then
		tree:add(f[name], range)
		return nil
	elseif kind == "hlc" then
		add_hlc(tree, hlc[name], range)
		return nil
	elseif kind == "status" then
		tree:add(f.status, range)
		return status_names[range:uint()] or string.format("status %d", range:uint())
	elseif kind == "state" then
		tree:add(f.state, range)
		return nil
	elseif kind == "close_at" then
		local ms = range:uint64()
		local item_tree = tree:add(f.close_at_ms, range)
		item_tree:add(f.close_at, range, ms_time(ms))
		return nil
	end
	-- reserved
	local r = tree:add(f.reserved, range)
	for i = 0, range:len() - 1 do
		if range(i, 1):uint() ~= 0 then
			r:add_proto_expert_info(ex.reserved)
			break
		end
	end
	return nil
end

local function info_summary(mtype, tvb, len)
	local function u64(off)
		if off + 8 <= len then
			return tostring(tvb(off, 8):uint64())
		end
		return "?"
	end
	if mtype == T_BID then
		return string.format("req=%s auction=%s bidder=%s amount=%s", u64(8), u64(16), u64(24),
			u64(32))
	elseif mtype == T_BID_REPLY then
		return string.format("req=%s auction=%s leading=%s", u64(8), u64(16), u64(32))
	elseif mtype == T_QUERY then
		return string.format("req=%s auction=%s", u64(8), u64(16))
	elseif mtype == T_WATCH or mtype == T_UNWATCH then
		return string.format("req=%s auction=%s viewer=%s", u64(8), u64(16), u64(24))
	elseif mtype == T_STATE then
		return string.format("req=%s auction=%s bids=%s", u64(8), u64(16), u64(56))
	end
	return ""
end

local function dissect_body(tvb, tree, mtype, len)
	local status
	for _, item in ipairs(layouts[mtype]) do
		local off, size = item[1], field_size(item)
		if off + size > len then
			break
		end
		local s = add_field(tree, item, tvb(off, size))
		status = status or s
	end
	return status
end

function bidplane.dissector(tvb, pinfo, root)
	local len = tvb:len()
	if len == 0 then
		return 0
	end
	pinfo.cols.protocol = "BIDPLANE"
	local tree = root:add(bidplane, tvb())
	if len < 2 or tvb(0, 2):uint() ~= MAGIC then
		if len >= 2 then
			tree:add(f.magic, tvb(0, 2))
		end
		tree:add_proto_expert_info(len < HEADER_LEN and ex.short or ex.bad_magic)
		pinfo.cols.info = len < HEADER_LEN and "short datagram" or "not bidplane (bad magic)"
		return len
	end
	tree:add(f.magic, tvb(0, 2))
	if len < HEADER_LEN then
		tree:add_proto_expert_info(ex.short)
		pinfo.cols.info = "short datagram"
		return len
	end
	local version, mtype = tvb(2, 1):uint(), tvb(3, 1):uint()
	local length_field, flags = tvb(4, 2):uint(), tvb(6, 2):uint()
	local vitem = tree:add(f.version, tvb(2, 1))
	if version ~= 1 then
		vitem:add_proto_expert_info(ex.version)
	end
	local titem = tree:add(f.type, tvb(3, 1))
	local litem = tree:add(f.length, tvb(4, 2))
	if length_field ~= len then
		litem:add_proto_expert_info(ex.length_field)
	end
	local fitem = tree:add(f.flags, tvb(6, 2))
	fitem:add(f.replayed, tvb(6, 2))
	fitem:add(f.flags_reserved, tvb(6, 2))

	local name = type_names[mtype]
	local info = name or string.format("type 0x%02x", mtype)
	if is_peer(mtype) then
		titem:add_proto_expert_info(ex.peer_type)
		if len > HEADER_LEN then
			tree:add(f.peer_body, tvb(HEADER_LEN))
		end
		pinfo.cols.info = string.format("peer (reserved) type 0x%02x", mtype)
		tree:append_text(", " .. info)
		return len
	end
	if not name then
		titem:add_proto_expert_info(ex.unknown_type)
		pinfo.cols.info = "unknown " .. info
		return len
	end
	local is_reply = mtype == T_BID_REPLY or mtype == T_STATE
	if not is_reply and flags ~= 0 then
		fitem:add_proto_expert_info(ex.request_flags)
	end
	local want = type_length[mtype]
	if len < want then
		tree:add_proto_expert_info(ex.truncated)
	elseif len > want then
		tree:add_proto_expert_info(ex.too_long)
		tree:add(f.trailing, tvb(want))
	end
	local status = dissect_body(tvb, tree, mtype, math.min(len, want))
	if status then
		info = info .. " " .. status
	end
	if is_reply and flags % 2 == 1 then
		info = info .. " [REPLAYED]"
	end
	info = info .. " " .. info_summary(mtype, tvb, math.min(len, want))
	tree:append_text(", " .. info)
	pinfo.cols.info = info
	return len
end

local udp_port = DissectorTable.get("udp.port")
udp_port:add(UDP_PORT, bidplane)
udp_port:add(PEER_PORT, bidplane)
