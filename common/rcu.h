/* SPDX-License-Identifier: MIT */
/*
 * urcu-qsbr thread-state calls that ThreadSanitizer understands.
 *
 * liburcu 0.13 implements grace periods and call_rcu with its own atomics
 * and memory barriers, which ThreadSanitizer does not see. Without help, a
 * -fsanitize=thread build reports every reuse of memory that another thread
 * read before its last quiescent state (a record freed by a call_rcu
 * callback, then handed out again by its pool) as a data race.
 *
 * The help is a happens-before edge through one token: a thread releases
 * the token whenever it tells RCU it holds no more references (quiescent
 * state, offline, unregister), and code that runs after a grace period (a
 * call_rcu callback that frees or recycles memory; code after
 * synchronize_rcu() or rcu_barrier()) acquires it. Every RCU reader thread
 * therefore reports its states through these wrappers, and every callback
 * that frees memory starts with tdm_rcu_after_grace_period().
 *
 * The edge is coarser than RCU's guarantee (an acquire also sees releases
 * made after the grace period began), so it can hide a real race on the
 * retired memory, never invent one. Outside a ThreadSanitizer build each
 * wrapper is exactly the liburcu call and the annotation compiles to
 * nothing.
 *
 * Include <urcu-qsbr.h> (through this header) before <urcu/rculfhash.h>.
 */
#ifndef TANDEM_RCU_H
#define TANDEM_RCU_H

#include <urcu-qsbr.h>

#if defined(__SANITIZE_THREAD__)
#define TDM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TDM_TSAN 1
#endif
#endif

#if defined(TDM_TSAN)
#include <sanitizer/tsan_interface.h>
/*
 * The grace-period token: only its address matters. Weak, so that every
 * translation unit including this header shares one definition without a
 * .c file to own it.
 */
__attribute__((weak)) char tdm_rcu_tsan_gp_token;
#define TDM_TSAN_RELEASE_GP() __tsan_release(&tdm_rcu_tsan_gp_token)
#define TDM_TSAN_ACQUIRE_GP() __tsan_acquire(&tdm_rcu_tsan_gp_token)
#else
#define TDM_TSAN_RELEASE_GP() ((void)0)
#define TDM_TSAN_ACQUIRE_GP() ((void)0)
#endif

/* rcu_quiescent_state(): this thread holds no RCU reference any more. */
static inline void tdm_rcu_quiescent_state(void)
{
	TDM_TSAN_RELEASE_GP();
	rcu_quiescent_state();
}

/* rcu_thread_offline(): nothing held until tdm_rcu_thread_online(). */
static inline void tdm_rcu_thread_offline(void)
{
	TDM_TSAN_RELEASE_GP();
	rcu_thread_offline();
}

/*
 * rcu_thread_online(). Nothing to tell ThreadSanitizer: what the thread
 * reads from here on is reached through rcu_dereference() of pointers
 * published after this point, and publication carries its own annotation.
 */
static inline void tdm_rcu_thread_online(void)
{
	rcu_thread_online();
}

/* rcu_unregister_thread(): the thread holds no reference any more. */
static inline void tdm_rcu_unregister_thread(void)
{
	TDM_TSAN_RELEASE_GP();
	rcu_unregister_thread();
}

/*
 * First thing in a call_rcu callback that frees or recycles memory, and
 * after synchronize_rcu() or rcu_barrier() before freeing what readers may
 * have seen: everything readers did before their quiescent states happened
 * before this.
 */
static inline void tdm_rcu_after_grace_period(void)
{
	TDM_TSAN_ACQUIRE_GP();
}

/*
 * Publishing a pointer that readers take with rcu_dereference() (which, in
 * C11, liburcu implements as an atomic consume load that ThreadSanitizer
 * sees). liburcu's rcu_assign_pointer() is a barrier and a volatile store,
 * and rcu_xchg_pointer() an inline-assembly xchg, both invisible to
 * ThreadSanitizer, which then reports the readers' reads of the new object
 * as racing with its initialisation. Under ThreadSanitizer these are C11
 * atomics of the same strength (the same instructions on x86); elsewhere
 * exactly the liburcu macros.
 */
#if defined(TDM_TSAN)
#define tdm_rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define tdm_rcu_xchg_pointer(pp, v) __atomic_exchange_n((pp), (v), __ATOMIC_SEQ_CST)
#else
#define tdm_rcu_assign_pointer(p, v) rcu_assign_pointer(p, v)
#define tdm_rcu_xchg_pointer(pp, v) rcu_xchg_pointer(pp, v)
#endif

#endif
