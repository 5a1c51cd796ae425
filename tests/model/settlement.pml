/*
 * Leadership and fenced settlement (issue 14, CLUSTER.md promise 6): the
 * smallest core that can break. 3 nodes, 2 auctions closing at T,
 * etcd with revisions, leases that expire (EXPIRIES times: at least 2
 * leadership changes), the election (the live key with the lowest creation
 * revision leads) and the settlement txn, which compares the writer's
 * election key with its token and the settlement key with absence.
 * docs/MODEL.md maps every name here to the code.
 *
 * Mutations (each must make pan find an error; tests/model/check.sh):
 *   -DNO_TOKEN_CHECK  the txn does not compare the election key's
 *                     creation revision: a deposed leader's write succeeds
 *   -DNO_PEER_WAIT    the leader settles once its own clock passed the
 *                     close time, without the peers' close reports
 *
 * Time is no number here: every clock reading (a node's HLC passing a
 * close time, a leader's lease-time-left check, etcd expiring a lease) is
 * a nondeterministic step, so every clock may be arbitrarily wrong, and
 * safety must come from the token check and the close reports.
 */

#define N 3        /* nodes */
#define A 2        /* auctions */
#define MAXAMT 2   /* bid amounts are 1..MAXAMT */
#ifndef BIDS
#define BIDS 1     /* bids accepted in all (2: a far larger search) */
#endif
#ifndef EXPIRIES
#define EXPIRIES 2 /* lease expiries in all */
#endif
/* Both auctions close at T; -DDISTINCT_CLOSE: auction a closes at T_a,
 * T0 < T1 (a larger search). */
#ifdef DISTINCT_CLOSE
#define STAGES A
#define CLOSE_OF(a) (a)
#else
#define STAGES 1
#define CLOSE_OF(a) 0
#endif
#ifndef NETCAP
#define NETCAP 2   /* replication messages in flight at once */
#endif

/* A settlement record: the winning amount (0: no bid) and the writer's
 * fencing token, as CLUSTER.md's settlement object carries both. Never 0
 * (a token is a creation revision >= 1): 0 means "no record". */
#define REC(amt, tok) (((amt) << 4) | (tok))
#define REC_AMT(r) ((r) >> 4)
#define REC_TOK(r) ((r) & 15)

#define IA(i, a) ((i) * A + (a))

/* ---- etcd: one linearizable store; every request is one atomic step ---- */
byte rev;               /* the store revision, here: +1 per election key */
byte key[N];            /* creation revision of node i's election key, 0: none */
byte expiries_left = EXPIRIES;
byte settled[A];        /* /<cluster>/settled/<a>: a REC, 0 while absent */
byte nsettle[A];        /* ghost: successful settlement writes of auction a */

/* ---- the nodes ---- */
byte believe[N];        /* the token node i acts with as leader, 0: none */
byte stage[N];          /* close times node i's HLC has passed (0..STAGES) */
byte own[N * A];        /* highest bid node i itself accepted on auction a */
byte mx[N * A];         /* node i's merged leading amount of auction a */
byte rec[N * A];        /* node i's local settlement record of auction a */
byte amax[A];           /* ghost: the highest bid accepted anywhere on a */
byte bids_left = BIDS;

/* Replication's deltas (the highest bid a node accepted on an auction;
 * each node sends its own to every peer, nobody relays):
 * lost (a send may drop), duplicated (senders retransmit from their state
 * at any time), reordered (the receiver takes the message of any sender
 * and auction first). At most NETCAP in flight, at most one per (sender,
 * receiver, auction) stream: a stream's amounts never fall, so a copy
 * overtaken by a later one equals a lost copy.
 * Heartbeats are not messages here: a peer's HLC only grows and is read
 * only by the settle guard, so reading the peer's stage at that guard
 * simulates every delayed, lost, duplicated or reordered heartbeat. */
chan net = [NETCAP] of { byte, byte, byte, byte }; /* from to a v */

#define SEND_DELTA_TO(d, a, v) if :: nfull(net) -> net!me, d, a, v :: true -> skip fi

/* Invariant 1 (once, one record): a node records one settlement of an
 * auction, and every record of it is the same. */
#define RECORD(i, a, r)                                                      \
	assert(rec[IA(i, a)] == 0 || rec[IA(i, a)] == (r));                  \
	rec[IA(i, a)] = (r)

/* Invariant 2 (winner): the settled amount is the highest bid accepted
 * before the close time on any node, also after any later acceptance. */
#define WINNER_HOLDS(a) assert(settled[a] == 0 || REC_AMT(settled[a]) == amax[a])

/* Node i's key is live and has the lowest creation revision of the live
 * keys: etcd's election names it leader. */
#define LEADS(i)                                                             \
	(key[i] != 0 && (key[0] == 0 || key[0] >= key[i]) &&                 \
	 (key[1] == 0 || key[1] >= key[i]) && (key[2] == 0 || key[2] >= key[i]))

/* Node i may settle auction a once node j's HLC passed T_a (its
 * heartbeat says so) and i has merged everything j accepted before
 * (replication's sequence numbers and ACKs tell the code as much). */
#define PEER_DONE(i, j, a) (i == j || (stage[j] > CLOSE_OF(a) && mx[IA(i, a)] >= own[IA(j, a)]))
#ifdef NO_PEER_WAIT
#define PEERS_DONE(i, a) true
#else
#define PEERS_DONE(i, a) (PEER_DONE(i, 0, a) && PEER_DONE(i, 1, a) && PEER_DONE(i, 2, a))
#endif

#ifdef NO_TOKEN_CHECK
#define TOKEN_HOLDS(i, tok) true
#else
#define TOKEN_HOLDS(i, tok) (key[i] == (tok))
#endif

/* etcd's leases: any may expire at any moment (a missed keepalive, a
 * partition, a paused holder, a wrong clock), EXPIRIES times in all.
 * Expiry deletes the election key. */
active proctype Leases()
{
	do
	:: d_step { expiries_left > 0 && key[0] != 0 -> key[0] = 0; expiries_left-- }
	:: d_step { expiries_left > 0 && key[1] != 0 -> key[1] = 0; expiries_left-- }
	:: d_step { expiries_left > 0 && key[2] != 0 -> key[2] = 0; expiries_left-- }
	od
}


/* One option per auction (and per peer), each guarded by its own
 * condition: a node never commits to an auction before its guard holds. */

/* A client's bid, accepted only before this node's HLC passed the close
 * time and only above the leading amount it knows (PROTOCOL.md). */
#define BID(a)                                                               \
	:: atomic {                                                          \
		bids_left > 0 && stage[me] <= CLOSE_OF(a) && mx[IA(me, a)] < MAXAMT -> \
		bids_left--;                                                 \
		if                                                           \
		:: mx[IA(me, a)] < 1 -> mx[IA(me, a)] = 1                    \
		:: mx[IA(me, a)] = MAXAMT                                    \
		fi;                                                          \
		own[IA(me, a)] = mx[IA(me, a)];                              \
		if                                                           \
		:: amax[a] < mx[IA(me, a)] -> amax[a] = mx[IA(me, a)]        \
		:: else -> skip                                              \
		fi;                                                          \
		WINNER_HOLDS(a)                                              \
	}

#define SEND_DELTA(a, j)                                                     \
	:: atomic {                                                          \
		j != me && own[IA(me, a)] > 0 && !net??[eval(me), eval(j), eval(a), _] -> \
		SEND_DELTA_TO(j, a, own[IA(me, a)])                          \
	}

/* A delta from node j on auction a is merged (a max-register). */
#define RECEIVE(j, a)                                                        \
	:: d_step {                                                          \
		j != me && net??[eval(j), eval(me), eval(a), _] ->           \
		net??eval(j), eval(me), eval(a), v;                          \
		if                                                           \
		:: mx[IA(me, a)] < v -> mx[IA(me, a)] = v                    \
		:: else -> skip                                              \
		fi;                                                          \
		v = 0                                                        \
	}

/* Decide a settlement: leader by its own belief, its own HLC past the
 * close time, every peer done, nothing recorded yet. The amount is fixed
 * here (the merged leading bid, final once every peer is done); the token
 * is not: the job goes to the leader thread, which takes the token it
 * holds when it runs the job (settle_one in control/leader/leader.c), at
 * any later moment (a queue, a pause). The node has one job in flight at
 * a time. */
#define DECIDE(a)                                                            \
	:: d_step {                                                          \
		believe[me] != 0 && !pend && rec[IA(me, a)] == 0 &&          \
		stage[me] > CLOSE_OF(a) && PEERS_DONE(me, a) ->              \
		pend_a = a; pend_amt = mx[IA(me, a)]; pend = true            \
	}

proctype Node(byte me)
{
	byte v;
	bool pend;             /* a settlement job in flight */
	byte pend_a, pend_amt; /* its auction and amount */
	byte pend_rec;         /* its record, once the leader thread runs it */

	do
	BID(0)
	BID(1)
	/* This node's HLC passes the next close time. */
	:: d_step { stage[me] < STAGES -> stage[me]++ }
	SEND_DELTA(0, 0) SEND_DELTA(0, 1) SEND_DELTA(0, 2)
	SEND_DELTA(1, 0) SEND_DELTA(1, 1) SEND_DELTA(1, 2)
	RECEIVE(0, 0) RECEIVE(1, 0) RECEIVE(2, 0)
	RECEIVE(0, 1) RECEIVE(1, 1) RECEIVE(2, 1)
	/* Campaign: a node without a live lease grants one and puts its
	 * election key, created at the next store revision. */
	:: d_step { believe[me] == 0 && key[me] == 0 -> rev++; key[me] = rev }
	/* The campaign returns: etcd names this node leader; token = key. */
	:: d_step { believe[me] == 0 && LEADS(me) -> believe[me] = key[me] }
	/* The leader's monotonic clock says lease time - margin passed (or a
	 * keepalive failed): it stops acting. The clock may be wrong: this
	 * comes at any time, or never (a zombie). */
	:: d_step { believe[me] != 0 -> believe[me] = 0 }
	DECIDE(0)
	DECIDE(1)
	/* The leader thread runs the job no longer believing it leads
	 * (LEADER_NOT_LEADER): nothing is sent; decided again later. */
	:: d_step { pend && believe[me] == 0 -> pend = false; pend_a = 0; pend_amt = 0 }
	/* It runs the job as leader: the record takes the token it holds now
	 * (maybe a later leadership's than at DECIDE), and the txn reaches
	 * etcd in the same step (a txn delayed past a deposition is the
	 * belief going stale before this step: the zombie). The txn compares
	 * the election key's creation revision with the token and the
	 * settlement key with absence; then puts the settlement, else reads
	 * both keys. Recorded locally only after success. */
	:: d_step {
		pend && believe[me] != 0 ->
		pend_rec = REC(pend_amt, believe[me]);
		if
		:: TOKEN_HOLDS(me, REC_TOK(pend_rec)) && settled[pend_a] == 0 ->
			/* Invariant 3 (fencing): only the node etcd names
			 * leader settles: a deposed leader settles nothing. */
			assert(LEADS(me) && key[me] == REC_TOK(pend_rec));
			assert(nsettle[pend_a] == 0); /* invariant 1: once */
			nsettle[pend_a]++;
			settled[pend_a] = pend_rec;
			WINNER_HOLDS(pend_a);
			RECORD(me, pend_a, pend_rec)
		:: else ->
			if
			:: !TOKEN_HOLDS(me, REC_TOK(pend_rec)) ->
				/* Refused for the token: the node steps down (the
				 * code counts it in fencing_rejections). */
				believe[me] = 0
			:: else -> skip
			fi;
			if
			:: settled[pend_a] != 0 -> RECORD(me, pend_a, settled[pend_a])
			:: else -> skip
			fi
		fi;
		pend = false; pend_a = 0; pend_amt = 0; pend_rec = 0
	}
	od
}

init
{
	/* The nodes start and campaign in id order (ids are symmetric: one
	 * order stands for all); later campaigns come at any time. */
	atomic {
		key[0] = 1; key[1] = 2; key[2] = 3; rev = 3;
		run Node(0); run Node(1); run Node(2)
	}
}
