#include "tasktablemodel.h"

#include "statestyle.h"
#include "tasksource.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QGuiApplication>
#include <QIODevice>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMimeData>
#include <QPalette>
#include <QThreadPool>
#include <QTimer>

#include <algorithm>

namespace {

constexpr quint32 bit(int column)
{
    return 1u << column;
}

// Rows this close together share one dataChanged: fewer signals for scattered changes,
// at the price of re-reading a few unchanged rows.
constexpr int MergeGap = 8;
constexpr size_t MaxRanges = 32;

QString firstLine(const QString &text, int maxLength = 200)
{
    QString line = text.section(u'\n', 0, 0, QString::SectionSkipEmpty).trimmed();
    if (line.size() > maxLength)
        line = line.left(maxLength - 1) + u'…';
    return line;
}

} // namespace

TaskTableModel::TaskTableModel(TaskSource *source, QObject *parent)
    : QAbstractTableModel(parent)
    , m_source(source)
{
    // A timer rather than a posted call: the slices then take turns with other timers
    // and with painting instead of running back to back.
    m_insertTimer.setSingleShot(true);
    m_insertTimer.setInterval(0);
    connect(&m_insertTimer, &QTimer::timeout, this, &TaskTableModel::insertQueued);
}

qint64 TaskTableModel::now() const
{
    return m_clock ? m_clock() : QDateTime::currentMSecsSinceEpoch();
}

QString TaskTableModel::formatDuration(qint64 ms)
{
    if (ms < 0)
        return {};
    if (ms < 10000)
        return QStringLiteral("%1 s").arg(ms / 1000.0, 0, 'f', 1);
    const qint64 s = ms / 1000;
    if (s < 60)
        return QStringLiteral("%1 s").arg(s);
    if (s < 3600)
        return QStringLiteral("%1 m %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 m").arg(s / 3600).arg(s / 60 % 60, 2, 10, QLatin1Char('0'));
}

QString TaskTableModel::summarize(const TaskSnapshot &t, QString *details)
{
    QString full;
    if (!t.error.isEmpty()) {
        full = t.error;
    } else if (t.state == TaskState::Succeeded) {
        const QJsonValue &r = t.result;
        if (r.isObject())
            full = QString::fromUtf8(QJsonDocument(r.toObject()).toJson(QJsonDocument::Compact));
        else if (r.isArray())
            full = QString::fromUtf8(QJsonDocument(r.toArray()).toJson(QJsonDocument::Compact));
        else if (r.isString())
            full = r.toString();
        else if (r.isBool())
            full = r.toBool() ? QStringLiteral("true") : QStringLiteral("false");
        else if (r.isDouble())
            full = QString::number(r.toDouble(), 'g', 15);
        else
            full = QStringLiteral("null");
    } else if (t.state == TaskState::Interrupted) {
        // Its progress message, if any, says how far it got.
        full = t.status.isEmpty()
                   ? tr("interrupted: Taskdeck stopped while it ran")
                   : tr("interrupted: Taskdeck stopped while it ran (at: %1)").arg(t.status);
    } else {
        full = t.status;
    }
    if (details)
        *details = full;
    // An error that begins with the script's whole path names it by its file name: the
    // column shows the message, the tooltip and the details the whole path.
    if (!t.error.isEmpty() && !t.file.isEmpty() && full.startsWith(t.file + u':'))
        return firstLine(QFileInfo(t.file).fileName() + full.mid(t.file.size()));
    return firstLine(full);
}

void TaskTableModel::fillRow(Row &row, const TaskSnapshot &t) const
{
    const bool wasRequested = row.cancelRequested;
    row.id = t.id;
    if (row.name != t.name)
        row.name = t.name;
    if (row.group != t.group)
        row.group = t.group;
    if (row.file != t.file)
        row.file = t.file;
    row.kind = t.kind;
    if (row.worker != t.worker)
        row.worker = t.worker;
    row.priority = t.priority;
    row.sequence = t.sequence;
    row.state = t.state;
    row.attempt = t.attempt;
    row.maxAttempts = t.maxAttempts;
    row.cancelRequested = t.cancelRequested && !isFinished(t.state);
    if (row.cancelRequested && !wasRequested)
        row.cancelRequestedAtMs = now();
    else if (!row.cancelRequested)
        row.cancelRequestedAtMs = -1;
    // A task that succeeded is done, whatever fraction it last reported.
    row.progress = t.state == TaskState::Succeeded && t.progress >= 0 ? 1.0 : t.progress;
    row.status = t.status;
    row.startedAtMs = t.startedAtMs;
    row.finishedAtMs = t.finishedAtMs;
    if (row.after != t.dependencies)
        row.after = t.dependencies;
    if (t.state == TaskState::Pending && t.attempt == 0) {
        // Most rows of a large queue: nothing to summarize yet.
        row.summary.clear();
        row.details.clear();
    } else if (t.state == TaskState::Pending && t.error.size()) {
        row.details = t.error;
        row.summary = tr("retrying after: %1").arg(firstLine(t.error));
    } else {
        row.summary = summarize(t, &row.details);
    }
}

quint32 TaskTableModel::changedColumns(const Row &a, const Row &b)
{
    quint32 mask = 0;
    if (a.name != b.name)
        mask |= bit(Name);
    if (a.group != b.group)
        mask |= bit(Group);
    if (a.priority != b.priority)
        mask |= bit(Priority);
    if (a.state != b.state || a.cancelRequested != b.cancelRequested)
        mask |= bit(State) | bit(Duration) | bit(Progress);
    if (a.progress != b.progress || a.status != b.status)
        mask |= bit(Progress);
    if (a.attempt != b.attempt || a.maxAttempts != b.maxAttempts)
        mask |= bit(Attempt);
    if (a.startedAtMs != b.startedAtMs)
        mask |= bit(Started) | bit(Duration);
    if (a.finishedAtMs != b.finishedAtMs)
        mask |= bit(Duration);
    if (a.summary != b.summary || a.details != b.details)
        mask |= bit(Result);
    if (a.after != b.after)
        mask |= bit(DependsOn);
    if (a.worker != b.worker)
        mask |= bit(Worker);
    return mask;
}

void TaskTableModel::account(const Row &row, int sign)
{
    // Rows mostly come in runs of one group: skip hashing the name for each of them.
    if (!m_lastGroupStats || !m_groups.isDetached() ||
        !(row.group.isSharedWith(m_lastGroup) || row.group == m_lastGroup)) {
        m_lastGroup = row.group;
        m_lastGroupStats = &m_groups[row.group];
    }
    GroupStats &g = *m_lastGroupStats;
    int GroupStats::*field = &GroupStats::finished;
    if (row.state == TaskState::Pending)
        field = &GroupStats::pending;
    else if (row.state == TaskState::Running)
        field = &GroupStats::running;
    g.*field += sign;
    m_groupTotals.*field += sign;
}

void TaskTableModel::applyUpdate(const EngineUpdate &update)
{
    struct Change
    {
        int row;
        quint32 columns;
    };
    std::vector<Change> changes;
    changes.reserve(size_t(update.changed.size()));
    std::vector<qsizetype> fresh;
    for (qsizetype i = 0; i < update.changed.size(); ++i) {
        const TaskSnapshot &t = update.changed[i];
        const auto at = m_rowOf.constFind(t.id);
        if (at != m_rowOf.constEnd()) {
            Row &row = m_rows[*at];
            const Row before = row;
            fillRow(row, t);
            if (before.state != row.state || before.group != row.group) {
                account(before, -1);
                account(row, +1);
            }
            if ((before.state == TaskState::Pending || row.state == TaskState::Pending) &&
                (before.state != row.state || !(orderKey(before) == orderKey(row))))
                reorder(&before, &row);
            if (const quint32 columns = changedColumns(before, row))
                changes.push_back({*at, columns});
        } else if (isQueued(t.id)) {
            m_newer.insert(t.id, t);
        } else if (m_removed.isEmpty() || !m_removed.contains(t.id)) {
            fresh.push_back(i);
        }
    }
    if (!fresh.empty()) {
        // Tasks submitted together arrive with consecutive ids: a range then tells which
        // are still queued, without hashing each of them now.
        QueuedBatch queued;
        queued.snapshots = update.changed;
        queued.fresh = std::move(fresh);
        const auto &all = std::as_const(queued.snapshots);
        queued.first = all[queued.fresh.front()].id;
        queued.last = all[queued.fresh.back()].id;
        queued.contiguous = queued.last - queued.first + 1 == queued.fresh.size();
        for (size_t k = 0; queued.contiguous && k < queued.fresh.size(); ++k)
            queued.contiguous = all[queued.fresh[k]].id == queued.first + k;
        if (!queued.contiguous)
            for (qsizetype i : queued.fresh)
                queued.ids.insert(all[i].id);
        m_queued += int(queued.fresh.size());
        m_rows.reserve(m_rows.size() + m_queued);
        m_queue.push_back(std::move(queued));
    }

    // One dataChanged per run of nearby rows, over the union of their changed columns;
    // past MaxRanges runs, one over them all. Measured (dashboard bench, 100,000 rows):
    // a sorting proxy re-sorts once per signal, and a few hundred scattered signals per
    // batch cost more than one wide one (p99 52 ms against 3.5 ms sorted by state).
    std::sort(changes.begin(), changes.end(),
              [](const Change &a, const Change &b) { return a.row < b.row; });
    struct Range
    {
        int first;
        int last;
        quint32 columns;
    };
    std::vector<Range> ranges;
    for (const Change &c : changes) {
        if (!ranges.empty() && c.row - ranges.back().last <= MergeGap) {
            ranges.back().last = c.row;
            ranges.back().columns |= c.columns;
        } else {
            ranges.push_back({c.row, c.row, c.columns});
        }
    }
    if (ranges.size() > MaxRanges) {
        Range all{ranges.front().first, ranges.back().last, 0};
        for (const Range &r : ranges)
            all.columns |= r.columns;
        ranges.assign(1, all);
    }
    for (const Range &r : ranges) {
        int left = 0;
        while (!(r.columns & bit(left)))
            ++left;
        int right = ColumnCount - 1;
        while (!(r.columns & bit(right)))
            --right;
        Q_EMIT dataChanged(index(r.first, left), index(r.last, right));
    }

    if (applyReorder() && !m_rows.isEmpty())
        Q_EMIT dataChanged(index(0, QueuePosition), index(rowCount() - 1, QueuePosition));

    if (!m_insertScheduled)
        insertQueued();
    Q_EMIT batchApplied();
}

// Prepares queued tasks' rows for up to m_sliceMs, inserts them in one rowsInserted, and
// comes back on the next event-loop turn for the rest.
void TaskTableModel::insertQueued()
{
    m_insertScheduled = false;
    if (m_queued == 0)
        return;
    QElapsedTimer clock;
    clock.start();
    std::vector<Row> fresh;
    QStringList newGroups;
    while (m_queued > 0 && int(fresh.size()) < m_sliceRows) {
        QueuedBatch &batch = m_queue.front();
        // Read-only access: the batch's list is shared with the engine's signal.
        const TaskSnapshot *t = &std::as_const(batch.snapshots)[batch.fresh[batch.next]];
        if (!m_newer.isEmpty())
            if (const auto newer = m_newer.constFind(t->id); newer != m_newer.constEnd())
                t = &*newer;
        Row row;
        fillRow(row, *t);
        fresh.push_back(std::move(row));
        if (!m_newer.isEmpty())
            m_newer.remove(fresh.back().id);
        --m_queued;
        if (++batch.next == batch.fresh.size()) {
            // A flood's snapshots take a while to free: let a worker thread do it (their
            // strings are implicitly shared, with atomic counts).
            if (batch.snapshots.size() > 4096)
                QThreadPool::globalInstance()->start(
                    [doomed = std::move(batch.snapshots)]() mutable { doomed = {}; });
            m_queue.pop_front();
        }
        if (fresh.size() % 64 == 0 && clock.elapsed() >= m_sliceMs)
            break;
    }
    const int first = int(m_rows.size());
    m_rowOf.reserve(first + int(fresh.size()));
    beginInsertRows(QModelIndex(), first, first + int(fresh.size()) - 1);
    for (Row &row : fresh) {
        m_rowOf.insert(row.id, int(m_rows.size()));
        const qsizetype groups = m_groups.size();
        account(row, +1);
        if (row.state == TaskState::Pending)
            reorder(nullptr, &row);
        if (m_groups.size() != groups)
            newGroups.append(row.group);
        m_rows.append(std::move(row));
    }
    endInsertRows();
    // New tasks mostly queue behind the others; one put ahead of them moves them down.
    if (applyReorder() && first > 0)
        Q_EMIT dataChanged(index(0, QueuePosition), index(first - 1, QueuePosition));
    for (const QString &group : std::as_const(newGroups))
        Q_EMIT groupAdded(group);
    if (m_queued > 0) {
        m_insertScheduled = true;
        m_insertTimer.start();
    }
}

void TaskTableModel::rebuildRowIndex()
{
    m_rowOf.clear();
    m_rowOf.reserve(m_rows.size());
    for (int r = 0; r < m_rows.size(); ++r)
        m_rowOf.insert(m_rows[r].id, r);
}

void TaskTableModel::reorder(const Row *before, const Row *after)
{
    if (before && before->state == TaskState::Pending)
        m_orderRemoved.insert(before->id);
    if (after && after->state == TaskState::Pending)
        m_orderAdded.push_back(orderKey(*after));
}

bool TaskTableModel::applyReorder()
{
    if (m_orderRemoved.isEmpty() && m_orderAdded.empty())
        return false;
    bool moved = !m_orderRemoved.isEmpty();
    if (!m_orderRemoved.isEmpty()) {
        std::erase_if(m_order, [this](const OrderKey &k) { return m_orderRemoved.contains(k.id); });
        m_orderRemoved.clear();
    }
    if (!m_orderAdded.empty()) {
        std::sort(m_orderAdded.begin(), m_orderAdded.end());
        // Queued behind every task already there: nobody else's place changes.
        moved = moved || (!m_order.empty() && m_orderAdded.front() < m_order.back());
        const auto middle = m_order.insert(m_order.end(), m_orderAdded.begin(), m_orderAdded.end());
        std::inplace_merge(m_order.begin(), middle, m_order.end());
        m_orderAdded.clear();
    }
    return moved;
}

int TaskTableModel::queuePosition(const Row &row) const
{
    if (row.state != TaskState::Pending)
        return 0;
    const OrderKey key = orderKey(row);
    const auto at = std::lower_bound(m_order.begin(), m_order.end(), key);
    return at != m_order.end() && *at == key ? int(at - m_order.begin()) + 1 : 0;
}

bool TaskTableModel::startsBefore(const Row &a, const Row &b)
{
    return orderKey(a) < orderKey(b);
}

void TaskTableModel::linkRetry(TaskId failed, TaskId retry)
{
    m_retriedAs.insert(failed, retry);
    m_retryOf.insert(retry, failed);
    for (TaskId id : {failed, retry})
        if (const int r = rowOf(id); r >= 0)
            Q_EMIT dataChanged(index(r, Result), index(r, Result));
}

bool TaskTableModel::isQueued(TaskId id) const
{
    for (const QueuedBatch &batch : m_queue) {
        if (batch.contiguous ? (id >= batch.first && id <= batch.last) : batch.ids.contains(id))
            return true;
    }
    return false;
}

int TaskTableModel::removeTasks(const std::function<bool(const Row &)> &remove)
{
    QList<int> doomed;
    for (int i = 0; i < m_rows.size(); ++i)
        if (remove(m_rows[i]))
            doomed.append(i);
    if (doomed.isEmpty())
        return 0;
    // Runs of consecutive rows; past a few dozen a reset is cheaper for the views.
    QList<std::pair<int, int>> runs;
    for (int r : std::as_const(doomed)) {
        if (!runs.isEmpty() && runs.last().second == r - 1)
            runs.last().second = r;
        else
            runs.append({r, r});
    }
    const bool reset = runs.size() > 32;
    if (reset)
        beginResetModel();
    for (auto run = runs.crbegin(); run != runs.crend(); ++run) {
        if (!reset)
            beginRemoveRows(QModelIndex(), run->first, run->second);
        for (int r = run->first; r <= run->second; ++r) {
            m_removed.insert(m_rows[r].id);
            account(m_rows[r], -1);
            if (m_rows[r].state == TaskState::Pending)
                reorder(&m_rows[r], nullptr);
        }
        m_rows.remove(run->first, run->second - run->first + 1);
        if (!reset)
            endRemoveRows();
    }
    rebuildRowIndex();
    const bool reordered = applyReorder();
    if (reset)
        endResetModel();
    else if (reordered && !m_rows.isEmpty())
        Q_EMIT dataChanged(index(0, QueuePosition), index(rowCount() - 1, QueuePosition));
    return int(doomed.size());
}

int TaskTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int TaskTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString TaskTableModel::stateText(const Row &row) const
{
    if (row.cancelRequested) {
        const qint64 left = row.cancelRequestedAtMs + m_gracePeriodMs - now();
        if (left <= 0)
            return tr("stopping…");
        return tr("cancelling… (%1 s)").arg((left + 999) / 1000);
    }
    if (row.state == TaskState::Pending && row.attempt > 0)
        return tr("pending (retry)");
    return StateStyle::label(row.state);
}

QVariant TaskTableModel::displayData(const Row &row, int column) const
{
    switch (column) {
    case Id:
        return QString::number(row.id);
    case Name:
        return row.name;
    case Group:
        return row.group;
    case Priority:
        return row.priority;
    case State:
        return stateText(row);
    case Progress:
        return row.progress < 0 ? QString() : QStringLiteral("%1%").arg(qRound(row.progress * 100));
    case Attempt:
        if (row.attempt == 0)
            return QString();
        return row.maxAttempts > 1 ? QStringLiteral("%1/%2").arg(row.attempt).arg(row.maxAttempts)
                                   : QString::number(row.attempt);
    case Started:
        return startedText(row.startedAtMs);
    case Duration:
        if (row.startedAtMs < 0)
            return QString();
        if (row.finishedAtMs >= 0)
            return formatDuration(row.finishedAtMs - row.startedAtMs);
        if (row.state == TaskState::Running)
            return formatDuration(now() - row.startedAtMs);
        return QString();
    case Result:
        if (!m_retriedAs.isEmpty())
            if (const TaskId retry = m_retriedAs.value(row.id))
                return tr("retried as #%1: %2").arg(retry).arg(row.summary);
        if (!m_retryOf.isEmpty())
            if (const TaskId of = m_retryOf.value(row.id); of && row.summary.isEmpty())
                return tr("retry of #%1").arg(of);
        return row.summary;
    case QueuePosition:
        if (const int place = queuePosition(row))
            return QString::number(place);
        return QString();
    case DependsOn:
        return dependsOnText(row.after);
    case Worker:
        return row.worker;
    }
    return {};
}

// "#12, #13 (any end)": what a task waits for, as the Depends on column shows it.
QString TaskTableModel::dependsOnText(const TaskDependencies &after)
{
    QStringList parts;
    for (const TaskDependency &d : after)
        parts.append(d.anyEnd ? tr("#%1 (any end)").arg(d.id) : QStringLiteral("#%1").arg(d.id));
    return parts.join(QStringLiteral(", "));
}

void TaskTableModel::setHighlighted(const QSet<TaskId> &waitedFor, const QSet<TaskId> &waiting)
{
    if (waitedFor == m_waitedFor && waiting == m_waiting)
        return;
    QSet<TaskId> touched = m_waitedFor + m_waiting;
    m_waitedFor = waitedFor;
    m_waiting = waiting;
    touched += waitedFor + waiting;
    for (TaskId id : std::as_const(touched))
        if (const int r = rowOf(id); r >= 0)
            Q_EMIT dataChanged(index(r, 0), index(r, ColumnCount - 1), {Qt::BackgroundRole});
}

// Today's times alone; a day and month for other days (tasks from earlier runs), and the
// year when it is not this one.
QString TaskTableModel::startedText(qint64 startedAtMs) const
{
    if (startedAtMs < 0)
        return {};
    const QDateTime started = QDateTime::fromMSecsSinceEpoch(startedAtMs);
    const QDate today = QDateTime::fromMSecsSinceEpoch(now()).date();
    if (started.date() == today)
        return started.toString(QStringLiteral("HH:mm:ss"));
    if (started.date().year() == today.year())
        return started.toString(QStringLiteral("d MMM HH:mm"));
    return started.toString(QStringLiteral("yyyy-MM-dd"));
}

QVariant TaskTableModel::sortData(const Row &row, int column) const
{
    switch (column) {
    case Id:
        return row.id;
    case Name:
        return row.name;
    case Group:
        return row.group;
    case Priority:
        return row.priority;
    case State:
        return int(row.state);
    case Progress:
        return row.progress;
    case Attempt:
        return row.attempt;
    case Started:
        return row.startedAtMs;
    case Duration: {
        if (row.startedAtMs < 0)
            return qint64(-1);
        const qint64 end = row.finishedAtMs >= 0 ? row.finishedAtMs : now();
        return end - row.startedAtMs;
    }
    case Result:
        return row.summary;
    case QueuePosition:
        return queuePosition(row);
    case DependsOn:
        return row.after.isEmpty() ? qint64(0) : qint64(row.after.constFirst().id);
    case Worker:
        return row.worker;
    }
    return {};
}

QVariant TaskTableModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row &row = m_rows[index.row()];
    const int column = index.column();
    switch (role) {
    case Qt::DisplayRole:
        return displayData(row, column);
    case Qt::EditRole:
        return column == Priority ? QVariant(row.priority) : displayData(row, column);
    case Qt::ToolTipRole:
        if (column == Result && !row.details.isEmpty())
            return row.details;
        if (column == Name || column == Id)
            return row.file;
        if (column == Progress && !row.status.isEmpty())
            return row.status;
        if (column == Started && row.startedAtMs >= 0)
            return QDateTime::fromMSecsSinceEpoch(row.startedAtMs).toString(Qt::ISODateWithMs);
        if (column == Duration && row.finishedAtMs >= 0)
            return tr("Finished %1")
                .arg(QDateTime::fromMSecsSinceEpoch(row.finishedAtMs).toString(Qt::ISODateWithMs));
        if (column == State && row.state == TaskState::Interrupted)
            return tr("Taskdeck stopped while this task ran. Re-run (Ctrl+Shift+R) runs it "
                      "again as a new task.");
        return {};
    case Qt::BackgroundRole:
        if (m_waitedFor.isEmpty() && m_waiting.isEmpty())
            return {};
        if (m_waitedFor.contains(row.id) || m_waiting.contains(row.id)) {
            QColor tint = QGuiApplication::palette().color(QPalette::Highlight);
            tint.setAlphaF(m_waitedFor.contains(row.id) ? 0.30f : 0.15f);
            return tint;
        }
        return {};
    case Qt::DecorationRole:
        return column == State ? QVariant(StateStyle::icon(row.state)) : QVariant();
    case Qt::ForegroundRole:
        if (column == State)
            return StateStyle::color(row.state, QGuiApplication::palette());
        if (column == Result &&
            (row.state == TaskState::Failed || row.state == TaskState::TimedOut ||
             row.state == TaskState::Interrupted))
            return StateStyle::color(row.state, QGuiApplication::palette());
        return {};
    case Qt::TextAlignmentRole:
        if (column == Id || column == Priority || column == Attempt || column == Duration ||
            column == QueuePosition)
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case IdRole:
        return row.id;
    case StateRole:
        return int(row.state);
    case ProgressRole:
        return row.progress;
    case StatusRole:
        return row.status;
    case CancelRequestedRole:
        return row.cancelRequested;
    case CancellableRole:
        return !isFinished(row.state) && !row.cancelRequested;
    case GroupRole:
        return row.group;
    case FileRole:
        return row.file;
    case SortRole:
        return sortData(row, column);
    }
    return {};
}

QVariant TaskTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Id:
        return tr("ID");
    case Name:
        return tr("Name");
    case Group:
        return tr("Group");
    case Priority:
        return tr("Priority");
    case State:
        return tr("State");
    case Progress:
        return tr("Progress");
    case Attempt:
        return tr("Attempt");
    case Started:
        return tr("Started");
    case Duration:
        return tr("Duration");
    case Result:
        return tr("Result or error");
    case QueuePosition:
        return tr("Queue");
    case DependsOn:
        return tr("Depends on");
    case Worker:
        return tr("Worker");
    }
    return {};
}

Qt::ItemFlags TaskTableModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::ItemIsDropEnabled;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    const Row &row = m_rows[index.row()];
    if (row.state == TaskState::Pending) {
        f |= Qt::ItemIsDragEnabled | Qt::ItemIsDropEnabled;
        if (index.column() == Priority)
            f |= Qt::ItemIsEditable;
    }
    return f;
}

bool TaskTableModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (role != Qt::EditRole || index.column() != Priority ||
        !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    bool ok = false;
    const int priority = value.toInt(&ok);
    Row &row = m_rows[index.row()];
    if (!ok || row.state != TaskState::Pending)
        return false;
    if (priority == row.priority)
        return true;
    if (m_source)
        m_source->setPriority(row.id, priority);
    // Shown at once, its place in the queue too; the engine's next batch confirms it.
    const Row before = row;
    row.priority = priority;
    reorder(&before, &row);
    Q_EMIT dataChanged(index, index, {Qt::DisplayRole, Qt::EditRole});
    if (applyReorder())
        Q_EMIT dataChanged(this->index(0, QueuePosition),
                           this->index(rowCount() - 1, QueuePosition));
    return true;
}

Qt::DropActions TaskTableModel::supportedDragActions() const
{
    return Qt::MoveAction;
}

Qt::DropActions TaskTableModel::supportedDropActions() const
{
    return Qt::MoveAction;
}

QStringList TaskTableModel::mimeTypes() const
{
    return {QString::fromLatin1(TaskIdsMimeType)};
}

QMimeData *TaskTableModel::mimeData(const QModelIndexList &indexes) const
{
    QList<int> rows;
    for (const QModelIndex &index : indexes)
        if (index.isValid() && !rows.contains(index.row()))
            rows.append(index.row());
    std::sort(rows.begin(), rows.end());
    QByteArray encoded;
    for (int r : std::as_const(rows))
        if (m_rows[r].state == TaskState::Pending)
            encoded += QByteArray::number(m_rows[r].id) + '\n';
    auto *mime = new QMimeData;
    mime->setData(QString::fromLatin1(TaskIdsMimeType), encoded);
    return mime;
}

QList<TaskId> TaskTableModel::idsFromMimeData(const QMimeData *data)
{
    QList<TaskId> ids;
    if (!data)
        return ids;
    const QByteArray encoded = data->data(QString::fromLatin1(TaskIdsMimeType));
    for (const QByteArray &line : encoded.split('\n')) {
        bool ok = false;
        const TaskId id = line.toULongLong(&ok);
        if (ok)
            ids.append(id);
    }
    return ids;
}

bool TaskTableModel::canDropMimeData(const QMimeData *data, Qt::DropAction action, int row,
                                     int column, const QModelIndex &parent) const
{
    Q_UNUSED(row);
    Q_UNUSED(column);
    if (action != Qt::MoveAction || !data || !data->hasFormat(QString::fromLatin1(TaskIdsMimeType)))
        return false;
    // Dropped onto a pending row: the dragged tasks go just before it.
    return parent.isValid() && m_rows[parent.row()].state == TaskState::Pending;
}

bool TaskTableModel::dropMimeData(const QMimeData *data, Qt::DropAction action, int row, int column,
                                  const QModelIndex &parent)
{
    if (!canDropMimeData(data, action, row, column, parent))
        return false;
    const TaskId target = m_rows[parent.row()].id;
    const QList<TaskId> ids = idsFromMimeData(data);
    if (m_source)
        for (TaskId id : ids)
            if (id != target)
                m_source->moveBefore(id, target);
    // The rows stay where they are in the table: the engine's order is what changed, and
    // returning false keeps the view from removing the dragged rows.
    return false;
}
