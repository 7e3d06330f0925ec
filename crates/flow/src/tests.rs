use std::time::{Duration, Instant};

use warbler_model::{
    CallFlow, CallFlowId, CallId, Command, CommandId, CommandStatus, Condition, ConditionOperator,
    ConditionVariable, FlowStep, HangupOptions, PauseOptions, PlaybackOptions, SayOptions, Voice,
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

fn action_step(action: &Action) -> StepId {
    match action {
        Action::Ringing { step }
        | Action::Answer { step }
        | Action::Say { step, .. }
        | Action::Playback { step, .. }
        | Action::StopMedia { step }
        | Action::Hangup { step, .. } => *step,
    }
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
