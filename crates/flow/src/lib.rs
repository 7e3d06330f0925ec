//! The Bird call-flow executor: a synchronous state machine that runs a call's `callFlow`
//! commands in order and says, in Bird's terms, what the call must do next.
//!
//! It knows nothing of SIP or RTP. The shell drives it with the same loop as every Warbler core:
//!
//! 1. feed one input ([`Executor::replace`], [`Executor::handle_done`],
//!    [`Executor::handle_answered`], [`Executor::handle_dtmf`], [`Executor::handle_silence`],
//!    [`Executor::handle_bridge_ended`], [`Executor::handle_timeout`],
//!    [`Executor::handle_call_ended`]), each carrying `now`;
//! 2. drain [`Executor::poll_output`] until it returns `None`, carrying out each [`Output`];
//! 3. wait until [`Executor::poll_timeout`] (if any) or the next input.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use warbler_flow::{Action, Executor, Outcome, Output};
//! use warbler_model::{CallFlow, CallFlowId, Command, CommandId, FlowStep, PauseOptions};
//!
//! let start = Instant::now();
//! let mut executor = Executor::new();
//! let flow = CallFlow { steps: vec![
//!     FlowStep { command: Command::Ringing, conditions: vec![] },
//!     FlowStep { command: Command::Pause(PauseOptions { length: 2 }), conditions: vec![] },
//! ] };
//! let ids = vec![CommandId::from_parts(1, [1; 10]), CommandId::from_parts(1, [2; 10])];
//! executor.replace(start, CallFlowId::from_parts(1, [0; 10]), flow, ids);
//! let mut ringing = None;
//! while let Some(output) = executor.poll_output() {
//!     if let Output::Action(Action::Ringing { step }) = output { ringing = Some(step); }
//! }
//! executor.handle_done(start, ringing.unwrap(), Outcome::Completed);
//! while executor.poll_output().is_some() {}
//! assert_eq!(executor.poll_timeout(), Some(start + Duration::from_secs(2)));
//! ```
//!
//! Semantics (spec §6, choices in docs/bird-compat.md): commands run strictly in order; a command
//! whose conditions do not all hold is `skipped`; a command that needs the call's audio (`say`,
//! `playback`, `gather`, `record`) on a call that is not answered first asks for an answer; a new
//! flow (PATCH) cancels the running command and replaces everything not yet run; `timeout` on
//! `say`/`playback` bounds how long it plays.
//!
//! `gather` plays its prompt (as a [`Action::Say`] or [`Action::Playback`] of the gather's own
//! step), stops it at the first key (barge-in), then collects keys until `maxNumKeys`, the end
//! key, or `timeout` seconds without a key; the timer starts when the prompt ends and restarts
//! at every key. No key at all replays the prompt up to `retries` times. The keys become the
//! `keys` condition variable and are reported as [`Output::Gathered`]. Keys pressed while no
//! `gather` or `record` runs are dropped. `record` ends at its end key, at `maxLength`, when the
//! shell reports `timeout` seconds of silence ([`Executor::handle_silence`]) or when the call
//! ends. `bridge` lasts until the shell reports [`Executor::handle_bridge_ended`]. Once the call
//! has ended the executor emits no more actions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use warbler_model::{
    BridgeOptions, CallFlow, CallFlowId, CallId, Command, CommandId, CommandName, CommandRecord,
    CommandStatus, DtmfKey, FlowRecord, FlowStep, GatherOptions, GatherPrompt, GatherResult,
    HangupCause, PlaybackOptions, RecordOptions, SayOptions,
};

/// Identifies one command of one flow in actions and results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepId {
    /// The flow it belongs to.
    pub flow: CallFlowId,
    /// The command.
    pub command: CommandId,
}

/// What the call must do, in Bird terms. Each action ends with the shell calling
/// [`Executor::handle_done`] with the same `step`, except where its documentation says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send ringing (SIP 180) to the caller.
    Ringing {
        /// The command.
        step: StepId,
    },
    /// Answer the call (SIP 200 OK). Also emitted before a command that needs the call's audio
    /// on an unanswered call; the shell then reports [`Executor::handle_answered`] and
    /// `handle_done` for `step`.
    Answer {
        /// The command.
        step: StepId,
    },
    /// Speak text; done when the audio has been sent. Also a `gather`'s `say` prompt (with the
    /// gather's step).
    Say {
        /// The command.
        step: StepId,
        /// What to say.
        options: SayOptions,
    },
    /// Play media URLs (in order, looped, with pauses between items); done when sent. Also a
    /// `gather`'s `playback` prompt (with the gather's step).
    Playback {
        /// The command.
        step: StepId,
        /// What to play.
        options: PlaybackOptions,
    },
    /// Stop the media of a command now (its `timeout` expired, a key interrupted a gather's
    /// prompt, or a new flow replaced it). No `handle_done` follows.
    StopMedia {
        /// The command whose audio must stop.
        step: StepId,
    },
    /// End the call. The flow is over.
    Hangup {
        /// The command (a `hangup`, or a `bridge` with `hangupAfterBridge`).
        step: StepId,
        /// Why (matters for a call that is not answered).
        cause: Option<HangupCause>,
    },
    /// Record the caller: play a beep first when `options.beep`, then record until
    /// [`Action::StopRecording`]. When `options.silence_timeout` is set, report that many
    /// seconds of continuous silence with [`Executor::handle_silence`]. The executor ends the
    /// recording itself at the end key and at `options.max_length` (counted from this action,
    /// beep included). `handle_done` is only needed if the recording fails or the shell ends it
    /// on its own.
    Record {
        /// The command.
        step: StepId,
        /// What ends it (the executor watches `end_key` and `max_length`).
        options: RecordOptions,
    },
    /// Stop a recording now and keep what was recorded. No `handle_done` follows.
    StopRecording {
        /// The `record` command.
        step: StepId,
    },
    /// Call `options.to` and connect it with this call; answer this call when the new leg
    /// answers, if it is not answered yet. Report the end with
    /// [`Executor::handle_bridge_ended`] (the executor acts on `hangup_after_bridge`).
    Bridge {
        /// The command.
        step: StepId,
        /// The new leg.
        options: Box<BridgeOptions>,
    },
    /// Hang up the bridged leg of a `bridge` that a new flow replaced (this call stays up). No
    /// `handle_bridge_ended` follows.
    EndBridge {
        /// The `bridge` command.
        step: StepId,
    },
    /// End the call: its flow finished and the idle timeout passed
    /// ([`Executor::with_idle_timeout`]). The flow is over.
    IdleHangup,
}

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it should.
    Completed,
    /// It could not (the reason is shown on the command).
    Failed(String),
}

/// How a bridged leg ended ([`Executor::handle_bridge_ended`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BridgeOutcome {
    /// The new leg answered, was connected, and has now ended: the command is `completed`.
    Completed,
    /// The new leg did not answer within `ringTimeout`: the command fails (`no-answer`).
    NoAnswer,
    /// The new leg was busy: the command fails (`busy`).
    Busy,
    /// The new leg could not be placed or failed (the reason is shown on the command).
    Failed(String),
}

/// What the executor tells the shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Carry this out.
    Action(Action),
    /// A command changed status; persist it (the call's `callFlow` shows it).
    CommandChanged {
        /// The command.
        step: StepId,
        /// Its new status.
        status: CommandStatus,
    },
    /// The flow ran out of commands (the call stays up until the idle timeout, if any).
    FlowFinished,
    /// A `gather` completed with these keys (also on its command in [`Executor::record`]);
    /// emitted just before the command's `completed` change.
    Gathered {
        /// The `gather` command.
        step: StepId,
        /// The keys collected, without the end key; empty when none came.
        keys: String,
    },
}

/// The state of the command being run: one variant per thing it waits for, holding only what
/// is valid while it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Running {
    /// Waiting for the shell to finish an action.
    Action,
    /// Waiting for the answer the executor asked for before a command that needs audio.
    AnswerFirst,
    /// A media action whose `timeout` ends it at the deadline, if the shell is slower.
    Media { deadline: Option<Instant> },
    /// A pause that ends at the deadline.
    Pause { until: Instant },
    /// A gather's prompt is playing and no key came yet; the prompt's own `timeout` cuts it at
    /// the deadline. `attempt` counts from 0 (the first play).
    GatherPrompt {
        attempt: u32,
        deadline: Option<Instant>,
    },
    /// A gather waits for a key until the deadline, having collected `keys`.
    GatherInput {
        attempt: u32,
        keys: String,
        deadline: Instant,
    },
    /// Recording until the end key, silence, or the `maxLength` deadline.
    Record { deadline: Instant },
    /// A bridge is ringing or connected, until the shell reports its end.
    Bridge,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// No flow yet.
    Idle,
    /// Running command `index` of the current flow.
    Running { index: usize, running: Running },
    /// The flow ran out of commands at `at`; the call stays up (until the idle timeout).
    Finished { at: Instant },
    /// The call ended (or a hangup ran): nothing more will happen.
    Ended,
}

#[derive(Clone, Debug)]
struct Step {
    id: CommandId,
    step: FlowStep,
    status: CommandStatus,
    reason: Option<String>,
    /// The keys a completed `gather` collected.
    gathered: Option<String>,
}

/// Runs one call's flow. See the crate docs for the driving loop.
#[derive(Debug)]
pub struct Executor {
    flow_id: Option<CallFlowId>,
    steps: Vec<Step>,
    state: State,
    answered: bool,
    keys: String,
    speech: String,
    idle_timeout: Option<Duration>,
    outputs: VecDeque<Output>,
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    /// An executor with no flow, for a call that is not answered. A finished flow leaves the
    /// call up for good (see [`Executor::with_idle_timeout`]).
    pub fn new() -> Self {
        Self {
            flow_id: None,
            steps: Vec::new(),
            state: State::Idle,
            answered: false,
            keys: String::new(),
            speech: String::new(),
            idle_timeout: None,
            outputs: VecDeque::new(),
        }
    }

    /// Hangs the call up ([`Action::IdleHangup`]) once its flow has run out of commands and
    /// `timeout` has passed without a new flow.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Installs a new flow (a PATCH, or the channel's configured flow) and starts it. A running
    /// command is cancelled (its media, recording or bridged leg stopped); commands of the old
    /// flow that had not run are dropped. `ids` gives each step its command id (one per step,
    /// in order).
    pub fn replace(
        &mut self,
        now: Instant,
        flow_id: CallFlowId,
        flow: CallFlow,
        ids: Vec<CommandId>,
    ) {
        if self.state == State::Ended {
            return;
        }
        self.stop_running();
        self.cancel_running();
        self.flow_id = Some(flow_id);
        self.steps = flow
            .steps
            .into_iter()
            .zip(ids)
            .map(|(step, id)| Step {
                id,
                step,
                status: CommandStatus::Accepted,
                reason: None,
                gathered: None,
            })
            .collect();
        self.state = State::Idle;
        self.advance(now, 0);
    }

    /// The shell finished `step`'s action.
    pub fn handle_done(&mut self, now: Instant, step: StepId, outcome: Outcome) {
        let Some(index) = self.current_index_for(step) else {
            return; // A result for a command that was cancelled or replaced: stale, ignore.
        };
        let State::Running { running, .. } = &self.state else {
            return;
        };
        match running.clone() {
            // The implicit answer finished; now the command itself runs.
            Running::AnswerFirst => match outcome {
                Outcome::Completed => self.start_answered(now, index),
                Outcome::Failed(reason) => {
                    self.finish(now, index, CommandStatus::Failed, Some(reason))
                }
            },
            Running::GatherPrompt { attempt, .. } => match outcome {
                Outcome::Completed => self.await_key(now, index, attempt, String::new()),
                Outcome::Failed(reason) => {
                    // The caller heard no prompt: the gather fails and collected nothing.
                    self.keys.clear();
                    self.finish(now, index, CommandStatus::Failed, Some(reason));
                }
            },
            // The prompt already ended or was stopped: a late report, ignore.
            Running::GatherInput { .. } => {}
            Running::Bridge => {
                let outcome = match outcome {
                    Outcome::Completed => BridgeOutcome::Completed,
                    Outcome::Failed(reason) => BridgeOutcome::Failed(reason),
                };
                self.bridge_ended(now, index, outcome);
            }
            Running::Action
            | Running::Media { .. }
            | Running::Pause { .. }
            | Running::Record { .. } => match outcome {
                Outcome::Completed => self.finish(now, index, CommandStatus::Completed, None),
                Outcome::Failed(reason) => {
                    self.finish(now, index, CommandStatus::Failed, Some(reason))
                }
            },
        }
    }

    /// The call is now answered (by an `answer` command, implicitly, by a bridge, or otherwise).
    pub fn handle_answered(&mut self) {
        self.answered = true;
    }

    /// The caller pressed `key` (RFC 4733 or SIP INFO, as the shell decodes it). It feeds a
    /// running `gather` (interrupting its prompt) or ends a `record` whose end key it is;
    /// otherwise it is dropped.
    pub fn handle_dtmf(&mut self, now: Instant, key: DtmfKey) {
        let State::Running { index, running } = &self.state else {
            return;
        };
        let index = *index;
        match running.clone() {
            Running::GatherPrompt { attempt, .. } => {
                let step = self.step_id(index);
                self.outputs
                    .push_back(Output::Action(Action::StopMedia { step }));
                self.gather_key(now, index, attempt, String::new(), key);
            }
            Running::GatherInput { attempt, keys, .. } => {
                self.gather_key(now, index, attempt, keys, key);
            }
            Running::Record { .. } => {
                if let Command::Record(options) = &self.steps[index].step.command
                    && options.end_key == Some(key)
                {
                    self.stop_recording(now, index);
                }
            }
            Running::Action
            | Running::AnswerFirst
            | Running::Media { .. }
            | Running::Pause { .. }
            | Running::Bridge => {}
        }
    }

    /// The shell's voice-activity detection heard the `silence_timeout` of `step`'s
    /// [`Action::Record`] pass in silence: the recording stops and the command completes.
    pub fn handle_silence(&mut self, now: Instant, step: StepId) {
        let Some(index) = self.current_index_for(step) else {
            return;
        };
        if matches!(
            self.state,
            State::Running {
                running: Running::Record { .. },
                ..
            }
        ) {
            self.stop_recording(now, index);
        }
    }

    /// `step`'s bridged leg ended. An answered bridge completes the command, then ends this
    /// call too when `hangupAfterBridge` is set; otherwise (and always after a failed bridge)
    /// the flow goes on.
    pub fn handle_bridge_ended(&mut self, now: Instant, step: StepId, outcome: BridgeOutcome) {
        let Some(index) = self.current_index_for(step) else {
            return;
        };
        if matches!(
            self.state,
            State::Running {
                running: Running::Bridge,
                ..
            }
        ) {
            self.bridge_ended(now, index, outcome);
        }
    }

    /// Time passed: ends pauses, bounded media and prompts, gathers waiting for a key,
    /// recordings at `maxLength`, and idle calls, whose deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state.clone() {
            State::Finished { at } => {
                if let Some(idle) = self.idle_timeout
                    && now >= at + idle
                {
                    self.outputs.push_back(Output::Action(Action::IdleHangup));
                    self.state = State::Ended;
                }
            }
            State::Running { index, running } => match running {
                Running::Pause { until } if now >= until => {
                    self.finish(now, index, CommandStatus::Completed, None);
                }
                Running::Media {
                    deadline: Some(deadline),
                } if now >= deadline => {
                    let step = self.step_id(index);
                    self.outputs
                        .push_back(Output::Action(Action::StopMedia { step }));
                    self.finish(now, index, CommandStatus::Completed, None);
                }
                Running::GatherPrompt {
                    attempt,
                    deadline: Some(deadline),
                } if now >= deadline => {
                    let step = self.step_id(index);
                    self.outputs
                        .push_back(Output::Action(Action::StopMedia { step }));
                    self.await_key(now, index, attempt, String::new());
                }
                Running::GatherInput {
                    attempt,
                    keys,
                    deadline,
                } if now >= deadline => {
                    let retries = self
                        .gather_options(index)
                        .map_or(0, |options| options.retries);
                    if keys.is_empty() && attempt < retries {
                        self.start_gather(now, index, attempt + 1);
                    } else {
                        self.complete_gather(now, index, keys);
                    }
                }
                Running::Record { deadline } if now >= deadline => {
                    self.stop_recording(now, index);
                }
                _ => {}
            },
            State::Idle | State::Ended => {}
        }
    }

    /// The call ended: the running command and everything after it is cancelled. No action
    /// follows (the shell stops media, recordings and bridged legs with the call).
    pub fn handle_call_ended(&mut self) {
        if self.state == State::Ended {
            return;
        }
        self.cancel_running();
        self.state = State::Ended;
    }

    /// The next output, if any. Drain until `None` after every input.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Executor::handle_timeout`] must next be called, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Running { running, .. } => match running {
                Running::Pause { until } => Some(*until),
                Running::Media { deadline } | Running::GatherPrompt { deadline, .. } => *deadline,
                Running::GatherInput { deadline, .. } | Running::Record { deadline } => {
                    Some(*deadline)
                }
                Running::Action | Running::AnswerFirst | Running::Bridge => None,
            },
            State::Finished { at } => self.idle_timeout.map(|idle| *at + idle),
            State::Idle | State::Ended => None,
        }
    }

    /// The current flow as the API shows it.
    pub fn record(&self, call: CallId) -> Option<FlowRecord> {
        let flow = self.flow_id?;
        Some(FlowRecord {
            id: flow,
            commands: self
                .steps
                .iter()
                .map(|step| CommandRecord {
                    id: step.id,
                    call_id: call,
                    call_flow_id: Some(flow),
                    status: step.status,
                    command: step.step.command.name(),
                    conditions: step.step.conditions.clone(),
                    reason: step.reason.clone(),
                    gather: step.gathered.clone().map(|keys| GatherResult { keys }),
                })
                .collect(),
        })
    }

    /// Whether the call is answered, as far as the flow knows.
    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// The keys of the latest completed `gather` (the `keys` condition variable).
    pub fn keys(&self) -> &str {
        &self.keys
    }

    fn current_index_for(&self, step: StepId) -> Option<usize> {
        let State::Running { index, .. } = &self.state else {
            return None;
        };
        (Some(step.flow) == self.flow_id && self.steps.get(*index)?.id == step.command)
            .then_some(*index)
    }

    fn step_id(&self, index: usize) -> StepId {
        StepId {
            // Invariant: a step index only exists once a flow is installed.
            flow: self.flow_id.unwrap_or(CallFlowId::from_parts(0, [0; 10])),
            command: self.steps[index].id,
        }
    }

    fn gather_options(&self, index: usize) -> Option<&GatherOptions> {
        match &self.steps[index].step.command {
            Command::Gather(options) => Some(options),
            _ => None,
        }
    }

    fn set_status(&mut self, index: usize, status: CommandStatus, reason: Option<String>) {
        let step = self.step_id(index);
        self.steps[index].status = status;
        self.steps[index].reason = reason;
        self.outputs
            .push_back(Output::CommandChanged { step, status });
    }

    /// Asks the shell to stop what the running command started (for a new flow).
    fn stop_running(&mut self) {
        let State::Running { index, running } = &self.state else {
            return;
        };
        let step = self.step_id(*index);
        let action = match running {
            Running::Media { .. } | Running::AnswerFirst | Running::GatherPrompt { .. } => {
                Action::StopMedia { step }
            }
            Running::Record { .. } => Action::StopRecording { step },
            Running::Bridge => Action::EndBridge { step },
            Running::Action | Running::Pause { .. } | Running::GatherInput { .. } => return,
        };
        self.outputs.push_back(Output::Action(action));
    }

    /// Marks the running command and every command after it that has not run `cancelled`.
    fn cancel_running(&mut self) {
        if let State::Running { index, .. } = self.state {
            self.set_status(index, CommandStatus::Cancelled, None);
            for later in index + 1..self.steps.len() {
                if self.steps[later].status == CommandStatus::Accepted {
                    self.set_status(later, CommandStatus::Cancelled, None);
                }
            }
        }
    }

    fn finish(
        &mut self,
        now: Instant,
        index: usize,
        status: CommandStatus,
        reason: Option<String>,
    ) {
        self.set_status(index, status, reason);
        if self.state == State::Ended {
            return;
        }
        self.advance(now, index + 1);
    }

    /// Ends the call from command `index` (a `hangup`, or a `bridge` with
    /// `hangupAfterBridge`): the commands after it are cancelled.
    fn hang_up(&mut self, index: usize, cause: Option<HangupCause>) {
        let step = self.step_id(index);
        self.outputs
            .push_back(Output::Action(Action::Hangup { step, cause }));
        self.set_status(index, CommandStatus::Completed, None);
        for later in index + 1..self.steps.len() {
            self.set_status(later, CommandStatus::Cancelled, None);
        }
        self.state = State::Ended;
    }

    /// Starts the first runnable command at or after `from`.
    fn advance(&mut self, now: Instant, from: usize) {
        for index in from..self.steps.len() {
            let holds = self.steps[index]
                .step
                .conditions
                .iter()
                .all(|condition| condition.holds(&self.keys, &self.speech));
            if !holds {
                self.set_status(index, CommandStatus::Skipped, None);
                continue;
            }
            self.start(now, index);
            return;
        }
        self.state = State::Finished { at: now };
        if self.flow_id.is_some() {
            self.outputs.push_back(Output::FlowFinished);
        }
    }

    fn start(&mut self, now: Instant, index: usize) {
        let step = self.step_id(index);
        self.set_status(index, CommandStatus::Ongoing, None);
        let command = self.steps[index].step.command.clone();
        match command {
            Command::Ringing => {
                self.state = State::Running {
                    index,
                    running: Running::Action,
                };
                self.outputs
                    .push_back(Output::Action(Action::Ringing { step }));
            }
            Command::Answer => {
                if self.answered {
                    self.finish(now, index, CommandStatus::Completed, None);
                } else {
                    self.state = State::Running {
                        index,
                        running: Running::Action,
                    };
                    self.outputs
                        .push_back(Output::Action(Action::Answer { step }));
                }
            }
            Command::Pause(options) => {
                let until = now + Duration::from_secs(u64::from(options.length));
                self.state = State::Running {
                    index,
                    running: Running::Pause { until },
                };
            }
            Command::Say(_) | Command::Playback(_) | Command::Gather(_) | Command::Record(_) => {
                if self.answered {
                    self.start_answered(now, index);
                } else {
                    self.state = State::Running {
                        index,
                        running: Running::AnswerFirst,
                    };
                    self.outputs
                        .push_back(Output::Action(Action::Answer { step }));
                }
            }
            Command::Hangup(options) => self.hang_up(index, options.cause),
            Command::Bridge(options) => {
                self.state = State::Running {
                    index,
                    running: Running::Bridge,
                };
                self.outputs
                    .push_back(Output::Action(Action::Bridge { step, options }));
            }
        }
    }

    /// Starts a command that needs the call's audio, now that the call is answered.
    fn start_answered(&mut self, now: Instant, index: usize) {
        let step = self.step_id(index);
        match self.steps[index].step.command.clone() {
            Command::Say(options) => {
                let deadline = media_deadline(now, options.timeout);
                self.start_media(index, Action::Say { step, options }, deadline);
            }
            Command::Playback(options) => {
                let deadline = media_deadline(now, options.timeout);
                self.start_media(index, Action::Playback { step, options }, deadline);
            }
            Command::Gather(_) => self.start_gather(now, index, 0),
            Command::Record(options) => {
                let deadline = now + Duration::from_secs(u64::from(options.max_length));
                self.state = State::Running {
                    index,
                    running: Running::Record { deadline },
                };
                self.outputs
                    .push_back(Output::Action(Action::Record { step, options }));
            }
            // Invariant: only the commands `start` sends here.
            other => unreachable!("start_answered for {:?}", other.name()),
        }
    }

    fn start_media(&mut self, index: usize, action: Action, deadline: Option<Instant>) {
        self.state = State::Running {
            index,
            running: Running::Media { deadline },
        };
        self.outputs.push_back(Output::Action(action));
    }

    /// Plays the gather's prompt (attempt `attempt`, from 0), or waits for keys if it has none.
    fn start_gather(&mut self, now: Instant, index: usize, attempt: u32) {
        let step = self.step_id(index);
        let prompt = self
            .gather_options(index)
            .and_then(|options| options.prompt.clone());
        let (action, timeout) = match prompt {
            Some(GatherPrompt::Say(options)) => {
                let timeout = options.timeout;
                (Action::Say { step, options }, timeout)
            }
            Some(GatherPrompt::Playback(options)) => {
                let timeout = options.timeout;
                (Action::Playback { step, options }, timeout)
            }
            None => {
                self.await_key(now, index, attempt, String::new());
                return;
            }
        };
        self.state = State::Running {
            index,
            running: Running::GatherPrompt {
                attempt,
                deadline: media_deadline(now, timeout),
            },
        };
        self.outputs.push_back(Output::Action(action));
    }

    /// Waits `timeout` seconds from `now` for the next key.
    fn await_key(&mut self, now: Instant, index: usize, attempt: u32, keys: String) {
        let timeout = self
            .gather_options(index)
            .map_or(0, |options| options.timeout);
        self.state = State::Running {
            index,
            running: Running::GatherInput {
                attempt,
                keys,
                deadline: now + Duration::from_secs(u64::from(timeout)),
            },
        };
    }

    fn gather_key(
        &mut self,
        now: Instant,
        index: usize,
        attempt: u32,
        mut keys: String,
        key: DtmfKey,
    ) {
        let Some(options) = self.gather_options(index) else {
            return;
        };
        let (end_key, max_keys) = (options.end_key, options.max_keys);
        if end_key == Some(key) {
            self.complete_gather(now, index, keys);
            return;
        }
        keys.push(key.as_char());
        if u32::try_from(keys.len()).unwrap_or(u32::MAX) >= max_keys {
            self.complete_gather(now, index, keys);
        } else {
            self.await_key(now, index, attempt, keys);
        }
    }

    fn complete_gather(&mut self, now: Instant, index: usize, keys: String) {
        let step = self.step_id(index);
        self.keys.clone_from(&keys);
        self.steps[index].gathered = Some(keys.clone());
        self.outputs.push_back(Output::Gathered { step, keys });
        self.finish(now, index, CommandStatus::Completed, None);
    }

    fn stop_recording(&mut self, now: Instant, index: usize) {
        let step = self.step_id(index);
        self.outputs
            .push_back(Output::Action(Action::StopRecording { step }));
        self.finish(now, index, CommandStatus::Completed, None);
    }

    fn bridge_ended(&mut self, now: Instant, index: usize, outcome: BridgeOutcome) {
        let reason = match outcome {
            BridgeOutcome::Completed => {
                let hang_up = matches!(
                    &self.steps[index].step.command,
                    Command::Bridge(options) if options.hangup_after_bridge
                );
                if hang_up {
                    self.hang_up(index, None);
                } else {
                    self.finish(now, index, CommandStatus::Completed, None);
                }
                return;
            }
            BridgeOutcome::NoAnswer => "no-answer".to_owned(),
            BridgeOutcome::Busy => "busy".to_owned(),
            BridgeOutcome::Failed(reason) => reason,
        };
        self.finish(now, index, CommandStatus::Failed, Some(reason));
    }
}

/// The deadline of media bounded by `timeout` seconds (absent or 0: unbounded).
fn media_deadline(now: Instant, timeout: Option<u32>) -> Option<Instant> {
    timeout
        .filter(|seconds| *seconds > 0)
        .map(|seconds| now + Duration::from_secs(u64::from(seconds)))
}

/// The Bird name of a step's command, for logs.
pub fn command_name(command: &Command) -> CommandName {
    command.name()
}

#[cfg(test)]
mod tests;
