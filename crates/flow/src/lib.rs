//! The Bird call-flow executor: a synchronous state machine that runs a call's `callFlow`
//! commands in order and says, in Bird's terms, what the call must do next.
//!
//! It knows nothing of SIP or RTP. The shell drives it with the same loop as every Warbler core:
//!
//! 1. feed one input ([`Executor::replace`], [`Executor::handle_done`],
//!    [`Executor::handle_answered`], [`Executor::handle_timeout`], [`Executor::handle_call_ended`]),
//!    each carrying `now`;
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
//! whose conditions do not all hold is `skipped`; a media command (`say`, `playback`) on a call
//! that is not answered first asks for an answer; a new flow (PATCH) cancels the running command
//! and replaces everything not yet run; `timeout` on `say`/`playback` bounds how long it plays.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use warbler_model::{
    CallFlow, CallFlowId, CallId, Command, CommandId, CommandName, CommandRecord, CommandStatus,
    FlowRecord, FlowStep, HangupCause, PlaybackOptions, SayOptions,
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
/// [`Executor::handle_done`] with the same `step` (except [`Action::StopMedia`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send ringing (SIP 180) to the caller.
    Ringing {
        /// The command.
        step: StepId,
    },
    /// Answer the call (SIP 200 OK). Also emitted before a media command on an unanswered call;
    /// the shell then reports [`Executor::handle_answered`] and `handle_done` for `step`.
    Answer {
        /// The command.
        step: StepId,
    },
    /// Speak text; done when the audio has been sent.
    Say {
        /// The command.
        step: StepId,
        /// What to say.
        options: SayOptions,
    },
    /// Play media URLs (in order, looped, with pauses between items); done when sent.
    Playback {
        /// The command.
        step: StepId,
        /// What to play.
        options: PlaybackOptions,
    },
    /// Stop the media of a command now (its `timeout` expired, or a new flow replaced it). No
    /// `handle_done` follows.
    StopMedia {
        /// The command whose audio must stop.
        step: StepId,
    },
    /// End the call. The flow is over.
    Hangup {
        /// The command.
        step: StepId,
        /// Why (matters for a call that is not answered).
        cause: Option<HangupCause>,
    },
}

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it should.
    Completed,
    /// It could not (the reason is shown on the command).
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
    /// The flow ran out of commands (the call stays up; the shell decides what then).
    FlowFinished,
}

/// The state of the command being run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Running {
    /// Waiting for the shell to finish an action.
    Action,
    /// Waiting for the answer the executor asked for before a media command.
    AnswerFirst,
    /// A media action whose `timeout` ends it at the deadline, if the shell is slower.
    Media { deadline: Option<Instant> },
    /// A pause that ends at the deadline.
    Pause { until: Instant },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// No flow, or the flow ran out of commands.
    Idle,
    /// Running command `index` of the current flow.
    Running { index: usize, running: Running },
    /// The call ended (or a hangup command ran): nothing more will happen.
    Ended,
}

#[derive(Clone, Debug)]
struct Step {
    id: CommandId,
    step: FlowStep,
    status: CommandStatus,
    reason: Option<String>,
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
    outputs: VecDeque<Output>,
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    /// An executor with no flow, for a call that is not answered.
    pub fn new() -> Self {
        Self {
            flow_id: None,
            steps: Vec::new(),
            state: State::Idle,
            answered: false,
            keys: String::new(),
            speech: String::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Installs a new flow (a PATCH, or the channel's configured flow) and starts it. A running
    /// command is cancelled; commands of the old flow that had not run are dropped. `ids` gives
    /// each step its command id (one per step, in order).
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
        if matches!(
            self.state,
            State::Running {
                running: Running::AnswerFirst,
                ..
            }
        ) {
            // The implicit answer finished; now the media command itself runs.
            match outcome {
                Outcome::Completed => self.start_media(now, index),
                Outcome::Failed(reason) => {
                    self.finish(now, index, CommandStatus::Failed, Some(reason))
                }
            }
            return;
        }
        match outcome {
            Outcome::Completed => self.finish(now, index, CommandStatus::Completed, None),
            Outcome::Failed(reason) => self.finish(now, index, CommandStatus::Failed, Some(reason)),
        }
    }

    /// The call is now answered (by an `answer` command, implicitly, or otherwise).
    pub fn handle_answered(&mut self) {
        self.answered = true;
    }

    /// Time passed: ends pauses and bounded media whose deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        let State::Running { index, running } = &self.state else {
            return;
        };
        let index = *index;
        match running {
            Running::Pause { until } if now >= *until => {
                self.finish(now, index, CommandStatus::Completed, None);
            }
            Running::Media {
                deadline: Some(deadline),
            } if now >= *deadline => {
                let step = self.step_id(index);
                self.outputs
                    .push_back(Output::Action(Action::StopMedia { step }));
                self.finish(now, index, CommandStatus::Completed, None);
            }
            _ => {}
        }
    }

    /// The call ended: the running command and everything after it is cancelled.
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
            State::Running {
                running: Running::Pause { until },
                ..
            } => Some(*until),
            State::Running {
                running: Running::Media { deadline },
                ..
            } => *deadline,
            _ => None,
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
                })
                .collect(),
        })
    }

    /// Whether the call is answered, as far as the flow knows.
    pub fn is_answered(&self) -> bool {
        self.answered
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

    fn set_status(&mut self, index: usize, status: CommandStatus, reason: Option<String>) {
        let step = self.step_id(index);
        self.steps[index].status = status;
        self.steps[index].reason = reason;
        self.outputs
            .push_back(Output::CommandChanged { step, status });
    }

    fn cancel_running(&mut self) {
        if let State::Running { index, running } = self.state.clone() {
            if matches!(running, Running::Media { .. } | Running::AnswerFirst) {
                let step = self.step_id(index);
                self.outputs
                    .push_back(Output::Action(Action::StopMedia { step }));
            }
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
        self.state = State::Idle;
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
            Command::Say(_) | Command::Playback(_) => {
                if self.answered {
                    self.start_media(now, index);
                } else {
                    self.state = State::Running {
                        index,
                        running: Running::AnswerFirst,
                    };
                    self.outputs
                        .push_back(Output::Action(Action::Answer { step }));
                }
            }
            Command::Hangup(options) => {
                self.outputs.push_back(Output::Action(Action::Hangup {
                    step,
                    cause: options.cause,
                }));
                self.set_status(index, CommandStatus::Completed, None);
                for later in index + 1..self.steps.len() {
                    self.set_status(later, CommandStatus::Cancelled, None);
                }
                self.state = State::Ended;
            }
        }
    }

    fn start_media(&mut self, now: Instant, index: usize) {
        let step = self.step_id(index);
        let (action, timeout) = match self.steps[index].step.command.clone() {
            Command::Say(options) => {
                let timeout = options.timeout;
                (Action::Say { step, options }, timeout)
            }
            Command::Playback(options) => {
                let timeout = options.timeout;
                (Action::Playback { step, options }, timeout)
            }
            // Invariant: start_media is only reached for say and playback.
            other => unreachable!("start_media for {:?}", other.name()),
        };
        let deadline = timeout
            .filter(|seconds| *seconds > 0)
            .map(|seconds| now + Duration::from_secs(u64::from(seconds)));
        self.state = State::Running {
            index,
            running: Running::Media { deadline },
        };
        self.outputs.push_back(Output::Action(action));
    }
}

/// The Bird name of a step's command, for logs.
pub fn command_name(command: &Command) -> CommandName {
    command.name()
}

#[cfg(test)]
mod tests;
