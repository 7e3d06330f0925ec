use std::time::{Duration, Instant};

use warbler_model::{
    BridgeOptions, CallFlow, CallFlowId, CallId, Command, CommandId, CommandStatus, Condition,
    ConditionOperator, ConditionVariable, DtmfKey, FlowStep, GatherInput, GatherOptions,
    GatherPrompt, GatherResult, HangupOptions, PauseOptions, PlaybackOptions, RecordOptions,
    RecordStart, SayOptions, Voice,
};

use super::*;

fn step(command: Command) -> FlowStep {
    FlowStep {
        command,
        conditions: vec![],
    }
}

fn say(text: &str) -> Command {
    Command::Say(SayOptions {
        text: text.into(),
        locale: "en-US".into(),
        voice: Voice::Female,
        loop_count: None,
        timeout: None,
    })
}

fn playback(timeout: Option<u32>) -> Command {
    Command::Playback(PlaybackOptions {
        media: vec!["http://127.0.0.1/a.wav".into()],
        loop_count: None,
        timeout,
        pause_milliseconds: None,
    })
}

fn install(
    executor: &mut Executor,
    now: Instant,
    flow_number: u8,
    steps: Vec<FlowStep>,
) -> Vec<CommandId> {
    let ids: Vec<CommandId> = (0..steps.len())
        .map(|index| {
            CommandId::from_parts(
                u64::from(flow_number),
                [u8::try_from(index).unwrap_or(0); 10],
            )
        })
        .collect();
    executor.replace(
        now,
        CallFlowId::from_parts(u64::from(flow_number), [flow_number; 10]),
        CallFlow { steps },
        ids.clone(),
    );
    ids
}

fn drain(executor: &mut Executor) -> Vec<Output> {
    std::iter::from_fn(|| executor.poll_output()).collect()
}

fn actions(outputs: &[Output]) -> Vec<Action> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Action(action) => Some(action.clone()),
            _ => None,
        })
        .collect()
}

fn statuses(executor: &Executor) -> Vec<CommandStatus> {
    executor
        .record(CallId::from_parts(1, [0; 10]))
        .map(|record| {
            record
                .commands
                .iter()
                .map(|command| command.status)
                .collect()
        })
        .unwrap_or_default()
}

fn step_of(action: &Action) -> Option<StepId> {
    match action {
        Action::Ringing { step }
        | Action::Answer { step }
        | Action::Say { step, .. }
        | Action::Playback { step, .. }
        | Action::StopMedia { step }
        | Action::Hangup { step, .. }
        | Action::Record { step, .. }
        | Action::StopRecording { step }
        | Action::Bridge { step, .. }
        | Action::EndBridge { step } => Some(*step),
        Action::IdleHangup => None,
    }
}

fn action_step(action: &Action) -> StepId {
    step_of(action).expect("an action of a command")
}

#[test]
fn seed_flow_rings_pauses_answers_plays_and_hangs_up() {
    let start = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(Command::Ringing),
            step(Command::Pause(PauseOptions { length: 2 })),
            step(Command::Answer),
            step(say("Welcome")),
            step(playback(None)),
            step(Command::Hangup(HangupOptions::default())),
        ],
    );
    let first = actions(&drain(&mut executor));
    assert!(matches!(first.as_slice(), [Action::Ringing { .. }]));
    executor.handle_done(start, action_step(&first[0]), Outcome::Completed);
    assert!(actions(&drain(&mut executor)).is_empty());
    let pause_end = start + Duration::from_secs(2);
    assert_eq!(executor.poll_timeout(), Some(pause_end));

    executor.handle_timeout(pause_end - Duration::from_millis(1));
    assert!(
        actions(&drain(&mut executor)).is_empty(),
        "the pause must not end early"
    );
    executor.handle_timeout(pause_end);
    let answer = actions(&drain(&mut executor));
    assert!(matches!(answer.as_slice(), [Action::Answer { .. }]));
    executor.handle_answered();
    executor.handle_done(pause_end, action_step(&answer[0]), Outcome::Completed);
    let say_action = actions(&drain(&mut executor));
    assert!(matches!(say_action.as_slice(), [Action::Say { .. }]));
    executor.handle_done(pause_end, action_step(&say_action[0]), Outcome::Completed);
    let play = actions(&drain(&mut executor));
    assert!(matches!(play.as_slice(), [Action::Playback { .. }]));
    executor.handle_done(pause_end, action_step(&play[0]), Outcome::Completed);
    let hangup = actions(&drain(&mut executor));
    assert!(matches!(
        hangup.as_slice(),
        [Action::Hangup { cause: None, .. }]
    ));
    assert_eq!(statuses(&executor), vec![CommandStatus::Completed; 6]);
    assert_eq!(executor.poll_timeout(), None);
}

#[test]
fn media_on_unanswered_call_answers_first() {
    let now = Instant::now();
    let mut executor = Executor::new();
    install(&mut executor, now, 1, vec![step(say("Hello"))]);
    let first = actions(&drain(&mut executor));
    assert!(matches!(first.as_slice(), [Action::Answer { .. }]));
    executor.handle_answered();
    executor.handle_done(now, action_step(&first[0]), Outcome::Completed);
    let second = actions(&drain(&mut executor));
    assert!(matches!(second.as_slice(), [Action::Say { .. }]));
    assert_eq!(action_step(&first[0]), action_step(&second[0]));
    executor.handle_done(now, action_step(&second[0]), Outcome::Completed);
    let outputs = drain(&mut executor);
    assert!(outputs.contains(&Output::FlowFinished));
    assert_eq!(statuses(&executor), vec![CommandStatus::Completed]);
}

#[test]
fn answer_on_answered_call_completes_at_once() {
    let now = Instant::now();
    let mut executor = Executor::new();
    executor.handle_answered();
    install(
        &mut executor,
        now,
        1,
        vec![step(Command::Answer), step(say("x"))],
    );
    let outputs = actions(&drain(&mut executor));
    assert!(matches!(outputs.as_slice(), [Action::Say { .. }]));
}

#[test]
fn commands_whose_conditions_fail_are_skipped() {
    let now = Instant::now();
    let mut executor = Executor::new();
    executor.handle_answered();
    let gated = FlowStep {
        command: say("only for 1"),
        conditions: vec![Condition {
            variable: ConditionVariable::Keys,
            operator: ConditionOperator::Equal,
            value: "1".into(),
        }],
    };
    install(&mut executor, now, 1, vec![gated, step(say("always"))]);
    let outputs = actions(&drain(&mut executor));
    match outputs.as_slice() {
        [Action::Say { options, .. }] => assert_eq!(options.text, "always"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Skipped, CommandStatus::Ongoing]
    );
}

#[test]
fn new_flow_cancels_the_running_command() {
    let now = Instant::now();
    let mut executor = Executor::new();
    executor.handle_answered();
    install(
        &mut executor,
        now,
        1,
        vec![step(say("old")), step(say("never"))],
    );
    let old = actions(&drain(&mut executor));
    install(&mut executor, now, 2, vec![step(say("new"))]);
    let outputs = drain(&mut executor);
    let new_actions = actions(&outputs);
    assert_eq!(
        new_actions[0],
        Action::StopMedia {
            step: action_step(&old[0])
        }
    );
    assert!(matches!(&new_actions[1], Action::Say { options, .. } if options.text == "new"));
    assert!(outputs.contains(&Output::CommandChanged {
        step: action_step(&old[0]),
        status: CommandStatus::Cancelled
    }));
    // A late result for the replaced command changes nothing.
    executor.handle_done(now, action_step(&old[0]), Outcome::Completed);
    assert!(drain(&mut executor).is_empty());
    assert_eq!(statuses(&executor), vec![CommandStatus::Ongoing]);
}

#[test]
fn media_timeout_stops_playback_and_moves_on() {
    let now = Instant::now();
    let mut executor = Executor::new();
    executor.handle_answered();
    install(
        &mut executor,
        now,
        1,
        vec![step(playback(Some(3))), step(say("next"))],
    );
    let play = actions(&drain(&mut executor));
    let deadline = now + Duration::from_secs(3);
    assert_eq!(executor.poll_timeout(), Some(deadline));
    executor.handle_timeout(deadline);
    let outputs = actions(&drain(&mut executor));
    assert_eq!(
        outputs[0],
        Action::StopMedia {
            step: action_step(&play[0])
        }
    );
    assert!(matches!(&outputs[1], Action::Say { .. }));
}

#[test]
fn failed_media_fails_that_command_and_the_flow_goes_on() {
    let now = Instant::now();
    let mut executor = Executor::new();
    executor.handle_answered();
    install(
        &mut executor,
        now,
        1,
        vec![step(playback(None)), step(say("after"))],
    );
    let play = actions(&drain(&mut executor));
    executor.handle_done(
        now,
        action_step(&play[0]),
        Outcome::Failed("HTTP 404".into()),
    );
    let outputs = actions(&drain(&mut executor));
    assert!(matches!(&outputs[0], Action::Say { .. }));
    let record = executor
        .record(CallId::from_parts(1, [0; 10]))
        .expect("flow");
    assert_eq!(record.commands[0].status, CommandStatus::Failed);
    assert_eq!(record.commands[0].reason.as_deref(), Some("HTTP 404"));
}

#[test]
fn call_end_cancels_running_and_pending_commands() {
    let now = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        now,
        1,
        vec![
            step(Command::Pause(PauseOptions { length: 5 })),
            step(say("x")),
        ],
    );
    drain(&mut executor);
    executor.handle_call_ended();
    drain(&mut executor);
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Cancelled, CommandStatus::Cancelled]
    );
    assert_eq!(executor.poll_timeout(), None);
    install(&mut executor, now, 2, vec![step(say("too late"))]);
    assert!(
        drain(&mut executor).is_empty(),
        "an ended call takes no new flow"
    );
}

#[test]
fn hangup_ends_the_flow() {
    let now = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        now,
        1,
        vec![
            step(Command::Hangup(HangupOptions::default())),
            step(say("never")),
        ],
    );
    let outputs = actions(&drain(&mut executor));
    assert_eq!(outputs.len(), 1);
    assert!(matches!(outputs[0], Action::Hangup { .. }));
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Completed, CommandStatus::Cancelled]
    );
}

// ---------------------------------------------------------------------------------------------
// gather, record, bridge, idle timeout

fn seconds(start: Instant, seconds: u64) -> Instant {
    start + Duration::from_secs(seconds)
}

fn say_options(text: &str, timeout: Option<u32>) -> SayOptions {
    SayOptions {
        text: text.into(),
        locale: "en-US".into(),
        voice: Voice::Female,
        loop_count: None,
        timeout,
    }
}

fn gather_options() -> GatherOptions {
    GatherOptions {
        max_keys: 100,
        end_key: None,
        timeout: 5,
        retries: 0,
        input: GatherInput::Dtmf,
        speech_locale: "en-US".into(),
        prompt: None,
    }
}

fn gather_with_say(options: GatherOptions, text: &str) -> Command {
    Command::Gather(GatherOptions {
        prompt: Some(GatherPrompt::Say(say_options(text, None))),
        ..options
    })
}

fn record_options() -> RecordOptions {
    RecordOptions {
        end_key: None,
        max_length: 3600,
        silence_timeout: None,
        beep: false,
        transcribe_locale: "en-US".into(),
    }
}

fn bridge(to: &str, hangup_after_bridge: bool) -> Command {
    Command::Bridge(Box::new(BridgeOptions {
        from: None,
        to: to.into(),
        ring_timeout: 30,
        max_duration: 28_800,
        ring_tone: None,
        hangup_after_bridge,
        record: false,
        record_start: RecordStart::RecordFromAnswer,
        record_stereo: false,
        call_flow: CallFlow::default(),
        notification: None,
        amd_settings: None,
    }))
}

fn when_keys(command: Command, operator: ConditionOperator, value: &str) -> FlowStep {
    FlowStep {
        command,
        conditions: vec![Condition {
            variable: ConditionVariable::Keys,
            operator,
            value: value.into(),
        }],
    }
}

fn answered_executor() -> Executor {
    let mut executor = Executor::new();
    executor.handle_answered();
    executor
}

fn gathered(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Gathered { keys, .. } => Some(keys.clone()),
            _ => None,
        })
        .collect()
}

fn said(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Say { options, .. } => Some(options.text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn gather_key_interrupts_the_prompt_and_max_keys_ends_it() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(gather_with_say(
                GatherOptions {
                    max_keys: 3,
                    ..gather_options()
                },
                "Enter your code",
            )),
            step(say("thanks")),
        ],
    );
    let prompt = actions(&drain(&mut executor));
    assert_eq!(said(&prompt), vec!["Enter your code"]);
    let gather_step = action_step(&prompt[0]);
    assert_eq!(
        executor.poll_timeout(),
        None,
        "no timer while the prompt plays"
    );

    executor.handle_dtmf(seconds(start, 1), DtmfKey::One);
    assert_eq!(
        actions(&drain(&mut executor)),
        vec![Action::StopMedia { step: gather_step }],
        "the first key stops the prompt"
    );
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 6)));
    executor.handle_dtmf(seconds(start, 2), DtmfKey::Two);
    assert!(drain(&mut executor).is_empty());
    executor.handle_dtmf(seconds(start, 3), DtmfKey::Star);
    let outputs = drain(&mut executor);
    assert_eq!(gathered(&outputs), vec!["12*"]);
    assert_eq!(said(&actions(&outputs)), vec!["thanks"]);
    assert_eq!(executor.keys(), "12*");
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Completed, CommandStatus::Ongoing]
    );
    // A late end of the interrupted prompt changes nothing.
    executor.handle_done(seconds(start, 3), gather_step, Outcome::Completed);
    assert!(drain(&mut executor).is_empty());
}

#[test]
fn gather_end_key_ends_input_and_is_not_part_of_the_keys() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Gather(GatherOptions {
            end_key: Some(DtmfKey::Pound),
            ..gather_options()
        }))],
    );
    assert!(actions(&drain(&mut executor)).is_empty(), "no prompt");
    for key in [DtmfKey::Four, DtmfKey::Two] {
        executor.handle_dtmf(start, key);
    }
    executor.handle_dtmf(start, DtmfKey::Pound);
    let outputs = drain(&mut executor);
    assert_eq!(gathered(&outputs), vec!["42"]);
    assert!(outputs.contains(&Output::FlowFinished));
}

#[test]
fn gather_end_key_during_the_prompt_completes_with_no_keys() {
    let start = Instant::now();
    let mut executor = answered_executor();
    executor.keys = "old".into();
    install(
        &mut executor,
        start,
        1,
        vec![step(gather_with_say(
            GatherOptions {
                end_key: Some(DtmfKey::Star),
                retries: 3,
                ..gather_options()
            },
            "prompt",
        ))],
    );
    let prompt = actions(&drain(&mut executor));
    executor.handle_dtmf(start, DtmfKey::Star);
    let outputs = drain(&mut executor);
    assert_eq!(
        actions(&outputs),
        vec![Action::StopMedia {
            step: action_step(&prompt[0])
        }]
    );
    assert_eq!(
        gathered(&outputs),
        vec![""],
        "no retry after an explicit end"
    );
    assert_eq!(executor.keys(), "");
}

#[test]
fn gather_timeout_counts_from_the_prompt_end_and_restarts_at_every_key() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(gather_with_say(
            GatherOptions {
                timeout: 5,
                ..gather_options()
            },
            "prompt",
        ))],
    );
    let prompt = actions(&drain(&mut executor));
    executor.handle_done(
        seconds(start, 4),
        action_step(&prompt[0]),
        Outcome::Completed,
    );
    assert!(drain(&mut executor).is_empty());
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 9)));
    executor.handle_dtmf(seconds(start, 6), DtmfKey::Seven);
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 11)));
    executor.handle_timeout(seconds(start, 10));
    assert!(drain(&mut executor).is_empty(), "not before the deadline");
    executor.handle_timeout(seconds(start, 11));
    let outputs = drain(&mut executor);
    assert_eq!(
        gathered(&outputs),
        vec!["7"],
        "partial input completes, no retry"
    );
    assert_eq!(statuses(&executor), vec![CommandStatus::Completed]);
}

#[test]
fn gather_without_input_replays_the_prompt_then_completes_empty() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(gather_with_say(
                GatherOptions {
                    timeout: 3,
                    retries: 2,
                    ..gather_options()
                },
                "Press a key",
            )),
            when_keys(say("nothing"), ConditionOperator::Equal, ""),
        ],
    );
    let mut now = start;
    for attempt in 0..3 {
        let prompt = actions(&drain(&mut executor));
        assert_eq!(said(&prompt), vec!["Press a key"], "attempt {attempt}");
        now += Duration::from_secs(2);
        executor.handle_done(now, action_step(&prompt[0]), Outcome::Completed);
        assert!(drain(&mut executor).is_empty());
        now += Duration::from_secs(3);
        assert_eq!(executor.poll_timeout(), Some(now));
        executor.handle_timeout(now);
    }
    let outputs = drain(&mut executor);
    assert_eq!(gathered(&outputs), vec![""]);
    assert_eq!(said(&actions(&outputs)), vec!["nothing"]);
    let record = executor
        .record(CallId::from_parts(1, [0; 10]))
        .expect("flow");
    assert_eq!(
        record.commands[0]
            .gather
            .as_ref()
            .map(|result| result.keys.as_str()),
        Some("")
    );
}

#[test]
fn gather_without_prompt_times_out_from_its_start_and_retries_silently() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Gather(GatherOptions {
            timeout: 2,
            retries: 1,
            ..gather_options()
        }))],
    );
    assert!(actions(&drain(&mut executor)).is_empty());
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 2)));
    executor.handle_timeout(seconds(start, 2));
    assert!(actions(&drain(&mut executor)).is_empty());
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 4)));
    executor.handle_dtmf(seconds(start, 3), DtmfKey::Nine);
    executor.handle_timeout(seconds(start, 5));
    assert_eq!(gathered(&drain(&mut executor)), vec!["9"]);
}

#[test]
fn gather_prompt_timeout_cuts_the_prompt_and_starts_waiting() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Gather(GatherOptions {
            prompt: Some(GatherPrompt::Playback(PlaybackOptions {
                media: vec!["http://127.0.0.1/menu.wav".into()],
                loop_count: Some(10),
                timeout: Some(20),
                pause_milliseconds: None,
            })),
            ..gather_options()
        }))],
    );
    let prompt = actions(&drain(&mut executor));
    assert!(matches!(prompt.as_slice(), [Action::Playback { .. }]));
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 20)));
    executor.handle_timeout(seconds(start, 20));
    assert_eq!(
        actions(&drain(&mut executor)),
        vec![Action::StopMedia {
            step: action_step(&prompt[0])
        }]
    );
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 25)));
}

#[test]
fn gather_prompt_failure_fails_the_command_and_clears_keys() {
    let start = Instant::now();
    let mut executor = answered_executor();
    executor.keys = "1".into();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(gather_with_say(gather_options(), "prompt")),
            when_keys(say("after"), ConditionOperator::Equal, ""),
        ],
    );
    let prompt = actions(&drain(&mut executor));
    executor.handle_done(
        start,
        action_step(&prompt[0]),
        Outcome::Failed("no voice".into()),
    );
    let outputs = drain(&mut executor);
    assert!(gathered(&outputs).is_empty());
    assert_eq!(said(&actions(&outputs)), vec!["after"]);
    let record = executor
        .record(CallId::from_parts(1, [0; 10]))
        .expect("flow");
    assert_eq!(record.commands[0].status, CommandStatus::Failed);
    assert_eq!(record.commands[0].reason.as_deref(), Some("no voice"));
    assert_eq!(record.commands[0].gather, None);
}

#[test]
fn gather_on_an_unanswered_call_answers_first() {
    let start = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        start,
        1,
        vec![step(gather_with_say(gather_options(), "menu"))],
    );
    let answer = actions(&drain(&mut executor));
    assert!(matches!(answer.as_slice(), [Action::Answer { .. }]));
    executor.handle_dtmf(start, DtmfKey::One);
    assert!(
        drain(&mut executor).is_empty(),
        "keys before the answer are dropped"
    );
    executor.handle_answered();
    executor.handle_done(start, action_step(&answer[0]), Outcome::Completed);
    assert_eq!(said(&actions(&drain(&mut executor))), vec!["menu"]);
}

#[test]
fn keys_outside_a_gather_are_dropped() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(say("intro")),
            step(Command::Gather(GatherOptions {
                max_keys: 1,
                ..gather_options()
            })),
        ],
    );
    let intro = actions(&drain(&mut executor));
    executor.handle_dtmf(start, DtmfKey::Five);
    assert!(drain(&mut executor).is_empty());
    executor.handle_done(start, action_step(&intro[0]), Outcome::Completed);
    drain(&mut executor);
    executor.handle_dtmf(start, DtmfKey::Six);
    assert_eq!(gathered(&drain(&mut executor)), vec!["6"]);
}

#[test]
fn new_flow_stops_the_gather_prompt_and_keeps_the_previous_keys() {
    let start = Instant::now();
    let mut executor = answered_executor();
    executor.keys = "3".into();
    install(
        &mut executor,
        start,
        1,
        vec![step(gather_with_say(gather_options(), "menu"))],
    );
    let prompt = actions(&drain(&mut executor));
    install(&mut executor, start, 2, vec![]);
    let outputs = drain(&mut executor);
    assert_eq!(
        actions(&outputs),
        vec![Action::StopMedia {
            step: action_step(&prompt[0])
        }]
    );
    assert!(gathered(&outputs).is_empty());
    assert_eq!(executor.keys(), "3");

    // While waiting for keys there is nothing to stop.
    install(
        &mut executor,
        start,
        3,
        vec![step(Command::Gather(gather_options()))],
    );
    drain(&mut executor);
    install(&mut executor, start, 4, vec![]);
    assert!(actions(&drain(&mut executor)).is_empty());
}

#[test]
fn gather_result_is_shown_on_its_command_record() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(Command::Gather(GatherOptions {
                max_keys: 2,
                ..gather_options()
            })),
            step(say("x")),
        ],
    );
    drain(&mut executor);
    executor.handle_dtmf(start, DtmfKey::One);
    executor.handle_dtmf(start, DtmfKey::Two);
    drain(&mut executor);
    let record = executor
        .record(CallId::from_parts(1, [0; 10]))
        .expect("flow");
    assert_eq!(
        record.commands[0].gather,
        Some(GatherResult { keys: "12".into() })
    );
    assert!(record.commands[1].gather.is_none());
}

/// Runs the IVR "press 1 for sales, 2 for support" flow, pressing `key`, and returns what was
/// said after the menu and where the call was bridged.
fn run_ivr(key: DtmfKey) -> (Vec<String>, Vec<String>, Vec<CommandStatus>) {
    let start = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        start,
        1,
        vec![
            step(Command::Answer),
            step(gather_with_say(
                GatherOptions {
                    max_keys: 1,
                    timeout: 5,
                    retries: 1,
                    ..gather_options()
                },
                "Press 1 for sales, 2 for support",
            )),
            when_keys(
                say("Connecting you to sales"),
                ConditionOperator::Equal,
                "1",
            ),
            when_keys(
                bridge("+31201111111", true),
                ConditionOperator::EqualSymbol,
                "1",
            ),
            when_keys(
                say("Connecting you to support"),
                ConditionOperator::Equal,
                "2",
            ),
            when_keys(
                bridge("sip:support@example.com", true),
                ConditionOperator::Equal,
                "2",
            ),
            step(say("Sorry, goodbye")),
            step(Command::Hangup(HangupOptions::default())),
        ],
    );
    let mut spoken = Vec::new();
    let mut bridged = Vec::new();
    let mut pending: VecDeque<Action> = actions(&drain(&mut executor)).into();
    let mut pressed = false;
    while let Some(action) = pending.pop_front() {
        match &action {
            Action::Answer { step } => {
                executor.handle_answered();
                executor.handle_done(start, *step, Outcome::Completed);
            }
            Action::Say { step, options } => {
                spoken.push(options.text.clone());
                if options.text.starts_with("Press") && !pressed {
                    pressed = true;
                    executor.handle_dtmf(start, key);
                } else {
                    executor.handle_done(start, *step, Outcome::Completed);
                }
            }
            Action::Bridge { step, options } => {
                bridged.push(options.to.clone());
                executor.handle_bridge_ended(start, *step, BridgeOutcome::Completed);
            }
            Action::StopMedia { .. } | Action::Hangup { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
        pending.extend(actions(&drain(&mut executor)));
    }
    (spoken, bridged, statuses(&executor))
}

#[test]
fn ivr_picks_the_branch_of_the_key_pressed() {
    use CommandStatus::{Cancelled, Completed, Skipped};
    let (spoken, bridged, statuses) = run_ivr(DtmfKey::One);
    assert_eq!(
        spoken,
        vec![
            "Press 1 for sales, 2 for support",
            "Connecting you to sales"
        ]
    );
    assert_eq!(bridged, vec!["+31201111111"]);
    assert_eq!(
        statuses,
        vec![
            Completed, Completed, Completed, Completed, Cancelled, Cancelled, Cancelled, Cancelled
        ]
    );

    let (spoken, bridged, statuses) = run_ivr(DtmfKey::Two);
    assert_eq!(spoken[1], "Connecting you to support");
    assert_eq!(bridged, vec!["sip:support@example.com"]);
    assert_eq!(
        statuses,
        vec![
            Completed, Completed, Skipped, Skipped, Completed, Completed, Cancelled, Cancelled
        ]
    );

    let (spoken, bridged, statuses) = run_ivr(DtmfKey::Nine);
    assert_eq!(spoken[1], "Sorry, goodbye");
    assert!(bridged.is_empty());
    assert_eq!(
        statuses,
        vec![
            Completed, Completed, Skipped, Skipped, Skipped, Skipped, Completed, Completed
        ]
    );
}

#[test]
fn record_carries_its_options_and_stops_at_the_end_key() {
    let start = Instant::now();
    let mut executor = answered_executor();
    let options = RecordOptions {
        end_key: Some(DtmfKey::Pound),
        beep: true,
        silence_timeout: Some(4),
        ..record_options()
    };
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(options.clone())), step(say("bye"))],
    );
    let record = actions(&drain(&mut executor));
    match record.as_slice() {
        [Action::Record { options: given, .. }] => assert_eq!(given, &options),
        other => panic!("unexpected {other:?}"),
    }
    let record_step = action_step(&record[0]);
    executor.handle_dtmf(seconds(start, 1), DtmfKey::One);
    assert!(drain(&mut executor).is_empty(), "other keys do not stop it");
    executor.handle_dtmf(seconds(start, 2), DtmfKey::Pound);
    let outputs = actions(&drain(&mut executor));
    assert_eq!(outputs[0], Action::StopRecording { step: record_step });
    assert_eq!(said(&outputs), vec!["bye"]);
    assert_eq!(executor.keys(), "", "record keys are not gathered");
}

#[test]
fn record_stops_at_max_length() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(RecordOptions {
            max_length: 60,
            ..record_options()
        }))],
    );
    let record = actions(&drain(&mut executor));
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 60)));
    executor.handle_timeout(seconds(start, 59));
    assert!(drain(&mut executor).is_empty());
    executor.handle_timeout(seconds(start, 60));
    let outputs = drain(&mut executor);
    assert_eq!(
        actions(&outputs),
        vec![Action::StopRecording {
            step: action_step(&record[0])
        }]
    );
    assert!(outputs.contains(&Output::FlowFinished));
    assert_eq!(statuses(&executor), vec![CommandStatus::Completed]);
}

#[test]
fn record_stops_on_reported_silence() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(RecordOptions {
            silence_timeout: Some(3),
            ..record_options()
        }))],
    );
    let record = actions(&drain(&mut executor));
    let stale = StepId {
        flow: CallFlowId::from_parts(9, [9; 10]),
        command: CommandId::from_parts(9, [9; 10]),
    };
    executor.handle_silence(seconds(start, 5), stale);
    assert!(drain(&mut executor).is_empty(), "silence of another step");
    executor.handle_silence(seconds(start, 5), action_step(&record[0]));
    assert_eq!(
        actions(&drain(&mut executor)),
        vec![Action::StopRecording {
            step: action_step(&record[0])
        }]
    );
    assert_eq!(statuses(&executor), vec![CommandStatus::Completed]);
}

#[test]
fn record_failure_fails_the_command() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(record_options())), step(say("next"))],
    );
    let record = actions(&drain(&mut executor));
    executor.handle_done(
        start,
        action_step(&record[0]),
        Outcome::Failed("disk full".into()),
    );
    let outputs = actions(&drain(&mut executor));
    assert_eq!(
        said(&outputs),
        vec!["next"],
        "no StopRecording for a failed one"
    );
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Failed, CommandStatus::Ongoing]
    );
}

#[test]
fn record_on_an_unanswered_call_answers_first_and_a_new_flow_stops_it() {
    let start = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(record_options()))],
    );
    let answer = actions(&drain(&mut executor));
    assert!(matches!(answer.as_slice(), [Action::Answer { .. }]));
    executor.handle_answered();
    executor.handle_done(start, action_step(&answer[0]), Outcome::Completed);
    let record = actions(&drain(&mut executor));
    assert!(matches!(record.as_slice(), [Action::Record { .. }]));
    install(&mut executor, start, 2, vec![]);
    assert_eq!(
        actions(&drain(&mut executor)),
        vec![Action::StopRecording {
            step: action_step(&record[0])
        }]
    );
}

#[test]
fn call_end_cancels_a_recording_without_actions() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(Command::Record(record_options())), step(say("x"))],
    );
    drain(&mut executor);
    executor.handle_call_ended();
    let outputs = drain(&mut executor);
    assert!(actions(&outputs).is_empty());
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Cancelled, CommandStatus::Cancelled]
    );
    assert_eq!(executor.poll_timeout(), None);
}

#[test]
fn answered_bridge_completes_and_the_flow_goes_on() {
    let start = Instant::now();
    let mut executor = Executor::new();
    install(
        &mut executor,
        start,
        1,
        vec![step(bridge("+31612345678", false)), step(say("back"))],
    );
    let bridge_action = actions(&drain(&mut executor));
    match bridge_action.as_slice() {
        [Action::Bridge { options, .. }] => assert_eq!(options.to, "+31612345678"),
        other => panic!("a bridge must not answer first: {other:?}"),
    }
    assert_eq!(executor.poll_timeout(), None);
    executor.handle_answered();
    executor.handle_bridge_ended(
        seconds(start, 30),
        action_step(&bridge_action[0]),
        BridgeOutcome::Completed,
    );
    assert_eq!(said(&actions(&drain(&mut executor))), vec!["back"]);
}

#[test]
fn hangup_after_bridge_ends_the_call_once_the_bridge_ends() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(
        &mut executor,
        start,
        1,
        vec![step(bridge("1000", true)), step(say("never"))],
    );
    let bridge_action = actions(&drain(&mut executor));
    let bridge_step = action_step(&bridge_action[0]);
    executor.handle_bridge_ended(start, bridge_step, BridgeOutcome::Completed);
    assert_eq!(
        actions(&drain(&mut executor)),
        vec![Action::Hangup {
            step: bridge_step,
            cause: None
        }]
    );
    assert_eq!(
        statuses(&executor),
        vec![CommandStatus::Completed, CommandStatus::Cancelled]
    );
    executor.handle_dtmf(start, DtmfKey::One);
    executor.handle_timeout(seconds(start, 1000));
    assert!(drain(&mut executor).is_empty());
}

#[test]
fn failed_bridges_fail_the_command_and_the_flow_goes_on_even_with_hangup_after_bridge() {
    for (outcome, reason) in [
        (BridgeOutcome::NoAnswer, "no-answer"),
        (BridgeOutcome::Busy, "busy"),
        (
            BridgeOutcome::Failed("488 Not Acceptable".into()),
            "488 Not Acceptable",
        ),
    ] {
        let start = Instant::now();
        let mut executor = answered_executor();
        install(
            &mut executor,
            start,
            1,
            vec![
                step(bridge("1000", true)),
                step(Command::Record(record_options())),
            ],
        );
        let bridge_action = actions(&drain(&mut executor));
        executor.handle_bridge_ended(start, action_step(&bridge_action[0]), outcome);
        let next = actions(&drain(&mut executor));
        assert!(
            matches!(next.as_slice(), [Action::Record { .. }]),
            "{reason}"
        );
        let record = executor
            .record(CallId::from_parts(1, [0; 10]))
            .expect("flow");
        assert_eq!(record.commands[0].status, CommandStatus::Failed);
        assert_eq!(record.commands[0].reason.as_deref(), Some(reason));
    }
}

#[test]
fn new_flow_ends_the_bridged_leg() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(&mut executor, start, 1, vec![step(bridge("1000", true))]);
    let bridge_action = actions(&drain(&mut executor));
    let bridge_step = action_step(&bridge_action[0]);
    install(&mut executor, start, 2, vec![step(say("after"))]);
    let outputs = actions(&drain(&mut executor));
    assert_eq!(outputs[0], Action::EndBridge { step: bridge_step });
    assert_eq!(said(&outputs), vec!["after"]);
    // The old bridge's end is stale now.
    executor.handle_bridge_ended(start, bridge_step, BridgeOutcome::Completed);
    assert!(drain(&mut executor).is_empty());
}

#[test]
fn a_finished_flow_stays_up_without_an_idle_timeout() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(&mut executor, start, 1, vec![]);
    assert_eq!(drain(&mut executor), vec![Output::FlowFinished]);
    assert_eq!(executor.poll_timeout(), None);
    executor.handle_timeout(seconds(start, 100_000));
    assert!(drain(&mut executor).is_empty());
}

#[test]
fn idle_timeout_hangs_up_a_finished_flow() {
    let start = Instant::now();
    let mut executor = Executor::new().with_idle_timeout(Duration::from_secs(30));
    assert_eq!(executor.poll_timeout(), None, "no flow yet: no idle timer");
    executor.handle_answered();
    install(&mut executor, start, 1, vec![step(say("hello"))]);
    let hello = actions(&drain(&mut executor));
    assert_eq!(
        executor.poll_timeout(),
        None,
        "not idle while a command runs"
    );
    executor.handle_done(
        seconds(start, 3),
        action_step(&hello[0]),
        Outcome::Completed,
    );
    drain(&mut executor);
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 33)));

    // A new flow before the deadline restarts the idle period when it finishes.
    install(
        &mut executor,
        seconds(start, 20),
        2,
        vec![step(Command::Pause(PauseOptions { length: 5 }))],
    );
    drain(&mut executor);
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 25)));
    executor.handle_timeout(seconds(start, 25));
    drain(&mut executor);
    assert_eq!(executor.poll_timeout(), Some(seconds(start, 55)));
    executor.handle_timeout(seconds(start, 54));
    assert!(drain(&mut executor).is_empty());
    executor.handle_timeout(seconds(start, 55));
    assert_eq!(
        drain(&mut executor),
        vec![Output::Action(Action::IdleHangup)]
    );
    assert_eq!(executor.poll_timeout(), None);
    install(
        &mut executor,
        seconds(start, 56),
        3,
        vec![step(say("late"))],
    );
    assert!(drain(&mut executor).is_empty(), "the call is over");
}

#[test]
fn call_end_emits_no_action_even_while_media_plays() {
    let start = Instant::now();
    let mut executor = answered_executor();
    install(&mut executor, start, 1, vec![step(playback(Some(10)))]);
    drain(&mut executor);
    executor.handle_call_ended();
    let outputs = drain(&mut executor);
    assert!(actions(&outputs).is_empty(), "{outputs:?}");
    assert_eq!(statuses(&executor), vec![CommandStatus::Cancelled]);
}

// ---------------------------------------------------------------------------------------------
// Property-style: random inputs never panic, and nothing is asked of a call that has ended.

/// Marsaglia's xorshift64: deterministic, seedable, good enough to shuffle inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut value = self.0;
        value ^= value << 13;
        value ^= value >> 7;
        value ^= value << 17;
        self.0 = value;
        value
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_command(rng: &mut XorShift) -> Command {
    let keys = [DtmfKey::One, DtmfKey::Two, DtmfKey::Pound];
    let small = |rng: &mut XorShift| u32::try_from(rng.below(4) + 1).unwrap_or(1);
    match rng.below(11) {
        0 => Command::Answer,
        1 => Command::Ringing,
        2 => Command::Pause(PauseOptions { length: small(rng) }),
        3 => Command::Say(say_options("s", rng.chance(50).then(|| small(rng)))),
        4 => playback(rng.chance(50).then(|| small(rng))),
        5 => Command::Hangup(HangupOptions::default()),
        6 | 7 => Command::Gather(GatherOptions {
            max_keys: small(rng),
            end_key: rng
                .chance(50)
                .then(|| keys[usize::try_from(rng.below(3)).unwrap_or(0)]),
            timeout: small(rng),
            retries: u32::try_from(rng.below(3)).unwrap_or(0),
            prompt: match rng.below(3) {
                0 => None,
                1 => Some(GatherPrompt::Say(say_options(
                    "p",
                    rng.chance(50).then(|| small(rng)),
                ))),
                _ => Some(GatherPrompt::Playback(PlaybackOptions {
                    media: vec!["http://127.0.0.1/p.wav".into()],
                    loop_count: None,
                    timeout: None,
                    pause_milliseconds: None,
                })),
            },
            ..gather_options()
        }),
        8 | 9 => Command::Record(RecordOptions {
            end_key: rng.chance(50).then_some(DtmfKey::Pound),
            max_length: small(rng),
            silence_timeout: rng.chance(50).then(|| small(rng)),
            beep: rng.chance(50),
            ..record_options()
        }),
        _ => bridge("1000", rng.chance(50)),
    }
}

fn random_flow(rng: &mut XorShift) -> Vec<FlowStep> {
    (0..rng.below(6))
        .map(|_| {
            let command = random_command(rng);
            if rng.chance(30) {
                let value = if rng.chance(50) { "1" } else { "" };
                when_keys(command, ConditionOperator::Equal, value)
            } else {
                step(command)
            }
        })
        .collect()
}

#[test]
fn random_inputs_never_panic_and_nothing_follows_the_call_end() {
    // How often each kind of output was seen, to show the inputs reach every command.
    let (mut gathers, mut recordings, mut bridges, mut idle_hangups) = (0, 0, 0, 0);
    for seed in 1..=300_u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let start = Instant::now();
        let mut now = start;
        let mut executor = if rng.chance(50) {
            Executor::new().with_idle_timeout(Duration::from_secs(rng.below(10) + 1))
        } else {
            Executor::new()
        };
        let mut ended = false;
        let mut flows: u8 = 0;
        let mut known_steps: Vec<StepId> = Vec::new();
        for _ in 0..200 {
            match rng.below(9) {
                0 => {
                    let key = DtmfKey::ALL[usize::try_from(rng.below(12)).unwrap_or(0)];
                    executor.handle_dtmf(now, key);
                }
                1 | 2 => {
                    if let Some(&step) = known_steps
                        .get(usize::try_from(rng.below(known_steps.len() as u64 + 1)).unwrap_or(0))
                    {
                        let outcome = if rng.chance(80) {
                            Outcome::Completed
                        } else {
                            Outcome::Failed("random".into())
                        };
                        executor.handle_done(now, step, outcome);
                    }
                }
                3 => {
                    now = match executor.poll_timeout() {
                        Some(deadline) if rng.chance(70) => deadline.max(now),
                        _ => now + Duration::from_millis(rng.below(3000)),
                    };
                    executor.handle_timeout(now);
                }
                4 => {
                    flows = flows.wrapping_add(1);
                    let steps = random_flow(&mut rng);
                    install(&mut executor, now, flows, steps);
                }
                5 => {
                    if rng.chance(20) {
                        executor.handle_call_ended();
                        ended = true;
                    } else {
                        executor.handle_answered();
                    }
                }
                6 => {
                    if let Some(&step) = known_steps.last() {
                        executor.handle_silence(now, step);
                    }
                }
                7 => {
                    if let Some(&step) = known_steps.last() {
                        let outcome = match rng.below(4) {
                            0 => BridgeOutcome::Completed,
                            1 => BridgeOutcome::NoAnswer,
                            2 => BridgeOutcome::Busy,
                            _ => BridgeOutcome::Failed("x".into()),
                        };
                        executor.handle_bridge_ended(now, step, outcome);
                    }
                }
                _ => {
                    if let Some(deadline) = executor.poll_timeout() {
                        assert!(
                            deadline >= start,
                            "seed {seed}: a deadline before the start"
                        );
                    }
                }
            }
            let outputs = drain(&mut executor);
            for output in &outputs {
                match output {
                    Output::Gathered { .. } => gathers += 1,
                    Output::Action(Action::Record { .. }) => recordings += 1,
                    Output::Action(Action::Bridge { .. }) => bridges += 1,
                    Output::Action(Action::IdleHangup) => idle_hangups += 1,
                    _ => {}
                }
                if let Output::Action(action) = output {
                    assert!(!ended, "seed {seed}: {action:?} after the call ended");
                    if let Some(step) = step_of(action) {
                        known_steps.push(step);
                    }
                    if matches!(action, Action::Hangup { .. } | Action::IdleHangup) {
                        // The shell ends the call when asked to.
                        executor.handle_call_ended();
                        ended = true;
                    }
                }
            }
            let ongoing = statuses(&executor)
                .into_iter()
                .filter(|status| *status == CommandStatus::Ongoing)
                .count();
            assert!(ongoing <= 1, "seed {seed}: {ongoing} commands ongoing");
            if ended {
                assert_eq!(executor.poll_timeout(), None, "seed {seed}");
                assert!(
                    statuses(&executor).iter().all(|status| status.is_final()),
                    "seed {seed}: {:?}",
                    statuses(&executor)
                );
            }
        }
    }
    assert!(
        gathers > 0 && recordings > 0 && bridges > 0 && idle_hangups > 0,
        "gathers {gathers}, recordings {recordings}, bridges {bridges}, idle {idle_hangups}"
    );
}
