#include "taskstorewriter.h"

#include "storecodec.h"
#include "storedatabase.h"

#include <QDateTime>
#include <QThread>

#include <algorithm>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace {

constexpr auto BatchWindow = std::chrono::milliseconds(50); // the least, and for submissions
constexpr auto MaxBatchWindow = std::chrono::seconds(1);
constexpr int WindowPerDrainTime = 10; // the window is this many times the last drain's time
// A drain writes the tasks of submissions rows older than this as tasks rows when it has
// fewer than QuietRows rows of its own to write.
constexpr auto SubmittedRowsAfter = std::chrono::seconds(2);
constexpr size_t QuietRows = 1000;
constexpr qsizetype TailLines = 200;

qint64 epochMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

// When the task entered the state its snapshot shows, as near as the snapshot tells;
// else when the batch was handed over.
qint64 enteredAt(const TaskSnapshot &s, qint64 batchMs)
{
    switch (s.state) {
    case TaskState::Pending:
        return s.attempt == 0 && s.submittedAtMs >= 0 ? s.submittedAtMs : batchMs;
    case TaskState::Running:
        return s.attempt <= 1 && s.startedAtMs >= 0 ? s.startedAtMs : batchMs;
    default:
        return s.finishedAtMs >= 0 ? s.finishedAtMs : batchMs;
    }
}

size_t contentKey(const TaskSpec &spec)
{
    return qHashMulti(0, spec.file, int(spec.kind), spec.command, spec.name, spec.priority,
                      spec.group, spec.timeoutMs, spec.retries, spec.retryDelayMs, spec.memoryBytes,
                      spec.source);
}

// Whether two specs make the same spec row.
bool sameSpec(const TaskSpec &a, const TaskSpec &b)
{
    return a.file == b.file && a.kind == b.kind && a.command == b.command && a.name == b.name &&
           a.priority == b.priority && a.group == b.group && a.timeoutMs == b.timeoutMs &&
           a.retries == b.retries && a.retryDelayMs == b.retryDelayMs &&
           a.memoryBytes == b.memoryBytes && a.args == b.args && a.source == b.source;
}

void keepTail(QStringList &tail, const QStringList &lines)
{
    if (lines.size() >= TailLines) {
        tail = lines.mid(lines.size() - TailLines);
        return;
    }
    tail.append(lines);
    if (tail.size() > TailLines)
        tail.remove(0, tail.size() - TailLines);
}

} // namespace

TaskStore::Writer::Writer()
    : m_window(BatchWindow)
{
}

TaskStore::Writer::~Writer()
{
    if (!m_thread)
        return;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_one();
    m_thread->wait();
}

TaskStore::OpenResult TaskStore::Writer::open(const QString &dataDir)
{
    // Shared with the thread: it may still be inside set_value() when get() returns.
    auto opened = std::make_shared<std::promise<OpenResult>>();
    std::future<OpenResult> result = opened->get_future();
    m_thread.reset(QThread::create([this, dataDir, opened] { run(dataDir, opened.get()); }));
    m_thread->setObjectName(QStringLiteral("taskdeck-store"));
    m_thread->start();
    const OpenResult status = result.get();
    if (status.status == OpenStatus::Failed) {
        m_thread->wait();
        m_thread.reset();
    }
    return status;
}

// The writer thread: opens the store, then drains the queue until told to stop, and
// writes what is left before it closes.
void TaskStore::Writer::run(const QString &dataDir, std::promise<OpenResult> *opened)
{
#ifdef Q_OS_LINUX
    // Under full load the engine and the workers keep the cores: this thread alone runs
    // at nice 10 and writes with what they leave. Only sync() and recover() wait for it.
    setpriority(PRIO_PROCESS, id_t(gettid()), 10);
#endif
    m_db = std::make_unique<StoreDatabase>();
    const OpenResult result = m_db->open(dataDir);
    m_path = m_db->path();
    if (result.status == OpenStatus::Failed) {
        m_db.reset();
        opened->set_value(result);
        return;
    }
    opened->set_value(result);

    for (;;) {
        std::vector<Item> items;
        bool stopping = false;
        waitForWork(&items, &stopping);
        const Clock::time_point started = Clock::now();
        const bool deferred = !stopping && deferFlood(items);
        drain(items, stopping);
        if (stopping)
            break;
        m_window = deferred
                       ? Clock::duration(MaxBatchWindow)
                       : std::clamp<Clock::duration>((Clock::now() - started) * WindowPerDrainTime,
                                                     BatchWindow, MaxBatchWindow);
    }
    m_db.reset();
}

// Under a flood of changes (QuietRows or more in the batches after the last submission),
// a drain writes the submissions only, and the batches after them go back to the queue
// for a drain MaxBatchWindow later: the engine keeps the cores while it is busiest.
// Returns whether it did so.
bool TaskStore::Writer::deferFlood(std::vector<Item> &items)
{
    size_t after = 0; // the items after the last submission
    qsizetype changes = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        if (std::holds_alternative<Submission>(items[i])) {
            after = i + 1;
            changes = 0;
        } else if (const auto *batch = std::get_if<Batch>(&items[i])) {
            changes += batch->update.changed.size();
        } else if (!std::holds_alternative<Samples>(items[i])) {
            return false; // a caller waits, or a forget: everything now
        }
    }
    if (after == 0 || after == items.size() || size_t(changes) < QuietRows)
        return false;
    {
        std::lock_guard lock(m_mutex);
        m_queue.insert(m_queue.begin(), std::make_move_iterator(items.begin() + qsizetype(after)),
                       std::make_move_iterator(items.end()));
    }
    items.resize(after);
    return true;
}

// Applies what was handed over and writes it.
void TaskStore::Writer::drain(std::vector<Item> &items, bool stopping)
{
    for (Item &item : items)
        apply(item);
    items.clear();
    const Clock::time_point now = Clock::now();
    if (!stopping && m_retryAt && now < *m_retryAt)
        return;
    // Quiet: the tasks of older submissions rows get their tasks rows.
    const bool materialize = m_submittedSince && m_dirty.size() < QuietRows &&
                             now - *m_submittedSince >= SubmittedRowsAfter;
    if (!flush(materialize) && stopping)
        report(QStringLiteral("the last changes of %1 tasks were not saved").arg(m_dirty.size()));
}

void TaskStore::Writer::enqueue(Item &&item, bool urgent)
{
    {
        std::lock_guard lock(m_mutex);
        if (!m_submissionAt && std::holds_alternative<Submission>(item))
            m_submissionAt = Clock::now();
        m_queue.push_back(std::move(item));
        m_urgent = m_urgent || urgent;
    }
    m_wake.notify_one();
}

// Runs `function` on the writer thread after everything queued before it is written
// (or failed to be), and waits for it.
void TaskStore::Writer::call(const std::function<void()> &function)
{
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    enqueue(Call{[&function, done] {
                function();
                done->set_value();
            }},
            true);
    finished.wait();
}

// Waits for work: queued items (then for the batch window, unless a caller waits, or
// BatchWindow after a submission arrived), the retry of a failed transaction, or the
// time to give submitted tasks their rows.
void TaskStore::Writer::waitForWork(std::vector<Item> *items, bool *stopping)
{
    std::optional<Clock::time_point> deadline = m_retryAt;
    if (m_submittedSince && !m_retryAt &&
        (!deadline || *m_submittedSince + SubmittedRowsAfter < *deadline))
        deadline = *m_submittedSince + SubmittedRowsAfter;
    std::unique_lock lock(m_mutex);
    while (m_queue.empty() && !m_stopping) {
        if (!deadline)
            m_wake.wait(lock);
        else if (m_wake.wait_until(lock, *deadline) == std::cv_status::timeout)
            break;
    }
    const Clock::time_point windowEnd = Clock::now() + m_window;
    while (!m_queue.empty() && !m_urgent && !m_stopping) {
        Clock::time_point until = windowEnd;
        if (m_submissionAt)
            until = std::min(until, *m_submissionAt + BatchWindow);
        if (m_wake.wait_until(lock, until) == std::cv_status::timeout)
            break;
    }
    items->swap(m_queue);
    m_urgent = false;
    m_submissionAt.reset();
    *stopping = m_stopping;
}

// ---- the calls ----

void TaskStore::Writer::submitted(const QList<TaskId> &ids,
                                  const QList<std::shared_ptr<const TaskSpec>> &specs,
                                  qint64 firstSequence)
{
    enqueue(Submission{ids, specs, firstSequence, epochMs()}, false);
}

void TaskStore::Writer::published(const EngineUpdate &update)
{
    enqueue(Batch{update, epochMs()}, false);
}

void TaskStore::Writer::sampled(const QList<StackSample> &stacks)
{
    enqueue(Samples{stacks}, false);
}

void TaskStore::Writer::forget(const QList<TaskId> &ids)
{
    enqueue(Forgetting{ids}, false);
}

bool TaskStore::Writer::sync(QString *problem)
{
    bool written = true;
    call([&] { written = m_flushed; });
    if (!written && problem)
        *problem = writeProblem();
    return written;
}

QString TaskStore::Writer::writeProblem() const
{
    std::lock_guard lock(m_problemMutex);
    return m_writeProblem;
}

TaskStore::Recovery TaskStore::Writer::recover(int historyLimit)
{
    Recovery recovery;
    call([&] {
        auto recovered = m_db->recover(historyLimit, epochMs(), m_specRows.empty());
        auto problem = [&](const QString &what) {
            report(what);
            recovery.problem = QStringLiteral("task store %1: %2").arg(m_path, what);
        };
        if (!recovered) {
            problem(QStringLiteral("cannot read back the tasks: ") + m_db->lastError());
            // New tasks must still not take the ids (and so the rows) of stored ones.
            recovery.lastId = m_db->highestId().value_or(0);
            return;
        }
        const QList<RestoredTask> &tasks = recovered->recovery.tasks;
        for (qsizetype i = 0; i < tasks.size(); ++i) {
            const qint64 row = recovered->specRows[i];
            if (!m_specOfRow.contains(row)) {
                keepSpecRow(SpecRow{row, tasks[i].spec});
                m_rowsByContent.emplace(contentKey(*tasks[i].spec), SpecRow{row, tasks[i].spec});
            }
            const TaskSnapshot &s = tasks[i].snapshot;
            if (s.state == TaskState::Pending) {
                Record &record = m_records[s.id];
                record.inDb = true;
                keepTail(record.tail, tasks[i].log);
            }
            m_restored.insert_or_assign(s.id, Restored{s.state, s.priority, s.attempt, s.sequence});
        }
        recovery = std::move(recovered->recovery);
        if (!m_db->recoverSettings(&recovery))
            problem(QStringLiteral("cannot read back the limits: ") + m_db->lastError());
        if (recovered->damagedSubmissions > 0)
            problem(QStringLiteral("%1 damaged record(s) of submitted tasks skipped; the rest "
                                   "was read back")
                        .arg(recovered->damagedSubmissions));
    });
    return recovery;
}

// ---- merging what was handed over (writer thread) ----

void TaskStore::Writer::apply(Item &item)
{
    if (const auto *submission = std::get_if<Submission>(&item)) {
        applySubmission(*submission);
    } else if (const auto *batch = std::get_if<Batch>(&item)) {
        applyBatch(*batch);
    } else if (const auto *forgetting = std::get_if<Forgetting>(&item)) {
        applyForgetting(*forgetting);
    } else if (const auto *samples = std::get_if<Samples>(&item)) {
        applySamples(*samples);
    } else if (const auto *called = std::get_if<Call>(&item)) {
        m_flushed = flush(true);
        called->run();
    }
}

void TaskStore::Writer::applySubmission(const Submission &submission)
{
    const qsizetype count = qMin(submission.ids.size(), submission.specs.size());
    for (qsizetype i = 0; i < count;) {
        const TaskId first = submission.ids[i];
        const std::shared_ptr<const TaskSpec> &spec = submission.specs[i];
        qsizetype end = i + 1;
        while (end < count && submission.ids[end] == first + TaskId(end - i) &&
               submission.specs[end] == spec)
            ++end;
        m_submitted.insert_or_assign(
            first, Run{end - i, spec, submission.firstSequence + i, submission.atMs, false});
        i = end;
    }
}

void TaskStore::Writer::applyBatch(const Batch &batch)
{
    if (batch.update.limits) {
        m_limits = *batch.update.limits;
        m_limitsDirty = true;
    }
    for (const TaskSnapshot &snapshot : batch.update.changed) {
        if (const auto it = m_restored.find(snapshot.id); it != m_restored.end()) {
            const Restored was = it->second;
            m_restored.erase(it);
            if (snapshot.state == was.state && snapshot.priority == was.priority &&
                snapshot.attempt == was.attempt &&
                (was.state != TaskState::Pending || snapshot.sequence == was.sequence))
                continue; // as recover() returned it
        }
        if (!m_records.count(snapshot.id) && snapshot.state == TaskState::Pending &&
            snapshot.attempt == 0) {
            // Still as submitted (a submission's first batch): its run tells as much.
            const auto *run = runOf(snapshot.id);
            if (run && snapshot.priority == run->second.spec->priority &&
                snapshot.sequence == run->second.firstSequence + qint64(snapshot.id - run->first))
                continue;
        }
        Record *record = recordFor(snapshot.id);
        if (!record)
            continue;
        // Cut short by the engine's shutdown: the next start tells the user and pauses
        // the group, as after a crash.
        if (record->state == TaskState::Running && snapshot.state == TaskState::Interrupted) {
            ++m_exitInterrupted;
            if (!m_exitInterruptedGroups.contains(snapshot.group))
                m_exitInterruptedGroups.append(snapshot.group);
        }
        observe(snapshot.id, *record, snapshot, batch.atMs);
        m_unwritten.insert_or_assign(snapshot.id, snapshot);
        markDirty(snapshot.id, *record);
    }
    for (const LogLines &log : batch.update.logs) {
        if (log.lines.isEmpty())
            continue;
        Record *record = recordFor(log.id);
        if (!record)
            continue;
        keepTail(record->tail, log.lines);
        record->tailChanged = true;
        markDirty(log.id, *record);
    }
}

void TaskStore::Writer::applyForgetting(const Forgetting &forgetting)
{
    for (TaskId id : forgetting.ids) {
        m_records.erase(id);
        m_unwritten.erase(id);
        m_running.erase(id);
        m_restored.erase(id);
        m_forgets.push_back(id);
    }
}

// The record of a task, made the first time it is needed: from its run (a task submitted
// and not changed since), else from its row (a restored task, or one written before).
// nullptr if it has neither.
TaskStore::Writer::Record *TaskStore::Writer::recordFor(TaskId id)
{
    if (auto it = m_records.find(id); it != m_records.end())
        return &it->second;
    if (const auto *run = runOf(id)) {
        Record &record = m_records[id];
        record.spec = run->second.spec;
        record.submittedAtMs = run->second.atMs;
        record.sequence = run->second.firstSequence + qint64(id - run->first);
        record.transitions = QStringLiteral("pending@%1").arg(run->second.atMs);
        markDirty(id, record);
        return &record;
    }
    if (m_unknown.contains(id))
        return nullptr;
    const std::optional<StoreDatabase::StoredTask> stored = m_db->storedTask(id);
    if (!stored) {
        m_unknown.insert(id);
        report(QStringLiteral("tasks it has no row of (submitted before attach(), or deleted) are "
                              "not recorded"));
        return nullptr;
    }
    Record &record = m_records[id];
    record.inDb = true;
    record.state = stored->state;
    record.tail = stored->logTail;
    if (record.state == TaskState::Running)
        m_running.insert(id);
    return &record;
}

// The run holding `id`, or nullptr.
const std::pair<const TaskId, TaskStore::Writer::Run> *TaskStore::Writer::runOf(TaskId id) const
{
    auto it = m_submitted.upper_bound(id);
    if (it == m_submitted.begin())
        return nullptr;
    --it;
    return id - it->first < TaskId(it->second.count) ? &*it : nullptr;
}

// Notes a change of state, as seen from one batch to the next.
void TaskStore::Writer::observe(TaskId id, Record &record, const TaskSnapshot &snapshot,
                                qint64 atMs)
{
    if (snapshot.state == record.state)
        return;
    if (!record.transitions.isEmpty())
        record.transitions += u' ';
    // Started and ended between two batches: it ran all the same.
    if (record.state == TaskState::Pending && isFinished(snapshot.state) && snapshot.attempt > 0 &&
        snapshot.startedAtMs >= 0)
        record.transitions += QStringLiteral("running@%1 ").arg(snapshot.startedAtMs);
    record.transitions +=
        taskStateName(snapshot.state) + u'@' + QString::number(enteredAt(snapshot, atMs));
    record.state = snapshot.state;
    record.sample.clear();
    record.sampleChanged = false;
    if (snapshot.state == TaskState::Running)
        m_running.insert(id);
    else
        m_running.erase(id);
}

void TaskStore::Writer::markDirty(TaskId id, Record &record)
{
    if (!record.dirty) {
        record.dirty = true;
        m_dirty.push_back(id);
    }
}

// The engine's 1 s samples: the stacks of the tasks the writer knows to be running (a
// sample that comes before the batch that says so is dropped: the next one counts) and
// the log tails of every running task are due to be written, so that after a crash they
// show where they were.
void TaskStore::Writer::applySamples(const Samples &samples)
{
    m_sampleTick = true;
    for (const StackSample &sample : samples.stacks) {
        if (!sample.stack || !m_running.count(sample.id))
            continue;
        const auto it = m_records.find(sample.id);
        if (it == m_records.end())
            continue;
        Record &record = it->second;
        QString text = StoreCodec::stackText(sample.stack);
        if (text != record.sample) {
            record.sample = std::move(text);
            record.sampleChanged = true;
        }
    }
    for (TaskId id : m_running) {
        auto it = m_records.find(id);
        if (it != m_records.end() && (it->second.sampleChanged || it->second.tailChanged))
            markDirty(id, it->second);
    }
}

// ---- writing (writer thread) ----

// Writes everything dirty and forgotten, and the runs not yet written, in one
// transaction; with `materialize` (and whenever tasks are forgotten, which must not come
// back from a submissions row) the submitted tasks get their tasks rows, and the
// submissions rows go. On failure nothing is settled: the same work (and what is added
// meanwhile) is tried again, with a back-off.
bool TaskStore::Writer::flush(bool materialize)
{
    materialize = (materialize || !m_forgets.empty()) && !m_submitted.empty();
    const bool unwrittenRuns = std::any_of(m_submitted.begin(), m_submitted.end(),
                                           [](const auto &run) { return !run.second.written; });
    if (m_dirty.empty() && m_forgets.empty() && !unwrittenRuns && !materialize && !m_limitsDirty &&
        m_exitInterrupted == 0)
        return true;
    std::vector<Written> written;
    written.reserve(m_dirty.size());
    std::vector<qint64> deletedSpecs;
    bool ok = m_db->begin();
    const bool began = ok;
    m_rows.clear();
    for (size_t i = 0; ok && i < m_dirty.size(); ++i) {
        const auto it = m_records.find(m_dirty[i]);
        if (it == m_records.end())
            continue;
        std::optional<Written> one;
        ok = write(it->first, it->second, &one);
        if (one)
            written.push_back(*one);
    }
    ok = ok && m_db->writeTasks(m_rows);
    std::vector<StoreDatabase::SubmittedRun> runs;
    for (auto it = m_submitted.begin(); ok && it != m_submitted.end(); ++it) {
        const Run &run = it->second;
        if (run.written)
            continue;
        runs.push_back({it->first, run.count, specRow(run.spec), run.spec->retries + 1,
                        run.spec->priority, run.firstSequence, run.atMs});
        ok = runs.back().specRow != 0;
    }
    ok = ok && m_db->insertSubmissions(runs);
    // After the task rows: a row written since the submission is newer than it.
    ok = ok && (!materialize || m_db->materializeSubmissions());
    std::set<qint64> specsOfForgotten;
    ok = ok && m_db->deleteTasks(m_forgets, &specsOfForgotten);
    for (auto it = specsOfForgotten.begin(); ok && it != specsOfForgotten.end(); ++it) {
        bool deleted = false;
        ok = m_db->deleteSpecIfUnused(*it, &deleted);
        if (deleted)
            deletedSpecs.push_back(*it);
    }
    // The user's decisions, in the same transaction as the tasks they concern.
    ok = ok && (!m_limitsDirty || m_db->writeLimits(m_limits));
    ok = ok && (m_exitInterrupted == 0 ||
                m_db->addInterruptedAtExit(m_exitInterrupted, m_exitInterruptedGroups));
    if (ok) {
        ok = m_db->commit();
    } else if (began) {
        m_db->rollback();
    }
    if (!ok) {
        m_stagedSpecs.clear();
        m_stagedContent.clear();
        m_writeError = m_db->lastError();
        report(m_writeError);
        setWriteProblem(
            QStringLiteral("cannot write the task store %1: %2").arg(m_path, m_writeError));
        ++m_failures;
        m_retryAt = Clock::now() + std::chrono::seconds(1 << qMin(m_failures - 1, 5));
        return false;
    }

    for (auto &[spec, row] : m_stagedSpecs)
        keepSpecRow(row);
    m_stagedSpecs.clear();
    m_rowsByContent.merge(m_stagedContent);
    m_stagedContent.clear();
    for (qint64 row : deletedSpecs)
        dropSpecRow(row);
    if (materialize) {
        // Their tasks have rows now: a record, when one is needed, comes from the row.
        m_submitted.clear();
        m_submittedSince.reset();
    } else if (!runs.empty()) {
        for (auto &[first, run] : m_submitted)
            run.written = true;
        if (!m_submittedSince)
            m_submittedSince = Clock::now();
    }
    settle(written);
    m_limitsDirty = false;
    m_exitInterrupted = 0;
    m_exitInterruptedGroups.clear();
    m_forgets.clear();
    m_sampleTick = false;
    if (m_failures > 0) {
        qWarning("taskdeck: task store %s: writing again; what had failed is written now",
                 qPrintable(m_path));
        m_reported.remove(m_writeError); // a later failure is told again
        m_writeError.clear();
        setWriteProblem({});
    }
    m_failures = 0;
    m_retryAt.reset();
    return true;
}

// Adds one task's row to m_rows as far as there is something to write now; `written`
// says what was, for settle(). False when its spec row cannot be written.
bool TaskStore::Writer::write(TaskId id, Record &record, std::optional<Written> *written)
{
    const auto found = m_unwritten.find(id);
    const TaskSnapshot *snapshot = found == m_unwritten.end() ? nullptr : &found->second;
    // A running task's log tail waits for the next sample; its stack column holds the
    // samples, not the stack of an earlier attempt.
    const bool running = record.state == TaskState::Running;
    const bool tailNow = record.tailChanged && (!record.inDb || !record.transitions.isEmpty() ||
                                                !running || m_sampleTick);

    StoreDatabase::TaskRow row;
    row.id = id;
    row.transitions = record.transitions;
    bool sampleUsed = false;
    if (snapshot && snapshot->state != TaskState::Running) {
        row.stack = StoreCodec::stackText(snapshot->stack);
    } else if (record.sampleChanged) {
        row.stack = record.sample;
        sampleUsed = true;
    }
    if (tailNow)
        row.logTail = StoreCodec::stringsText(record.tail);

    if (!record.inDb) {
        TaskSnapshot submitted; // a task not published yet: what its submission tells
        if (!snapshot) {
            if (!record.spec)
                return true;
            submitted.priority = record.spec->priority;
            submitted.maxAttempts = record.spec->retries + 1;
            submitted.submittedAtMs = record.submittedAtMs;
            submitted.sequence = record.sequence;
        }
        row.values = snapshot ? snapshot : &submitted;
        row.specRow = specRow(record.spec);
        if (!row.specRow)
            return false;
        m_rows.insert(row);
    } else if (snapshot) {
        row.values = snapshot;
        m_rows.update(row);
    } else if (row.stack || row.logTail) {
        m_rows.updateLive(id, row.stack, row.logTail);
    } else {
        return true;
    }
    *written = Written{id, row.logTail.has_value(), sampleUsed};
    return true;
}

// The row of `spec`: the one of an equal spec, else a new one (staged until the commit).
qint64 TaskStore::Writer::specRow(const std::shared_ptr<const TaskSpec> &spec)
{
    if (!spec)
        return 0;
    if (auto it = m_specRows.find(spec.get()); it != m_specRows.end())
        return it->second.row;
    if (auto it = m_stagedSpecs.find(spec.get()); it != m_stagedSpecs.end())
        return it->second.row;
    const size_t key = contentKey(*spec);
    auto equal = [&](const std::unordered_multimap<size_t, SpecRow> &rows) -> qint64 {
        for (auto [it, end] = rows.equal_range(key); it != end; ++it) {
            if (sameSpec(*it->second.spec, *spec))
                return it->second.row;
        }
        return 0;
    };
    qint64 row = equal(m_rowsByContent);
    if (!row)
        row = equal(m_stagedContent);
    if (!row) {
        row = m_db->insertSpec(*spec);
        if (!row)
            return 0;
        m_stagedContent.emplace(key, SpecRow{row, spec});
    }
    m_stagedSpecs.emplace(spec.get(), SpecRow{row, spec});
    return row;
}

// Maps the spec of `row` to it (one more of the specs that use the row).
void TaskStore::Writer::keepSpecRow(const SpecRow &row)
{
    m_specOfRow.insert(row.row, row.spec.get());
    m_specRows.insert_or_assign(row.spec.get(), row);
}

// Forgets a deleted spec row, by every spec that used it and by content.
void TaskStore::Writer::dropSpecRow(qint64 row)
{
    const QList<const TaskSpec *> specs = m_specOfRow.values(row);
    if (!specs.isEmpty()) {
        auto [it, end] = m_rowsByContent.equal_range(contentKey(*specs.first()));
        while (it != end)
            it = it->second.row == row ? m_rowsByContent.erase(it) : std::next(it);
    }
    for (const TaskSpec *spec : specs)
        m_specRows.erase(spec);
    m_specOfRow.remove(row);
}

// After a commit: what was written is no longer pending, and finished tasks are let go
// (their log tails with them).
void TaskStore::Writer::settle(const std::vector<Written> &written)
{
    for (const Written &w : written) {
        auto it = m_records.find(w.id);
        if (it == m_records.end())
            continue;
        Record &record = it->second;
        record.inDb = true;
        record.spec.reset();
        record.transitions.clear();
        if (w.tail)
            record.tailChanged = false;
        if (w.sample)
            record.sampleChanged = false;
        m_unwritten.erase(w.id);
    }
    for (TaskId id : m_dirty) {
        auto it = m_records.find(id);
        if (it == m_records.end())
            continue;
        Record &record = it->second;
        record.dirty = false;
        if (record.inDb && isFinished(record.state) && !record.tailChanged) {
            m_unwritten.erase(id);
            m_records.erase(it);
        }
    }
    m_dirty.clear();
}

void TaskStore::Writer::setWriteProblem(const QString &problem)
{
    std::lock_guard lock(m_problemMutex);
    m_writeProblem = problem;
}

void TaskStore::Writer::report(const QString &problem)
{
    if (m_reported.contains(problem))
        return;
    m_reported.insert(problem);
    qWarning("taskdeck: task store %s: %s", qPrintable(m_path), qPrintable(problem));
}
