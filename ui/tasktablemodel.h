#pragma once

#include "tasksnapshot.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>
#include <QTimer>

#include <deque>
#include <functional>

class TaskSource;

// The task table: one row per task, fed by the engine's batches (applyUpdate). A batch
// costs a bounded number of model signals: its new tasks arrive in one rowsInserted (a
// very large batch is spread over a few event-loop turns, so the window never freezes)
// and its changed tasks in one dataChanged per contiguous range of rows (at most 32, then
// one over them all), limited to the columns that changed. Edits (priority, drag to reorder) are
// requests to the engine; the table shows them once the engine's next batch confirms them. Main
// thread.
class TaskTableModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column {
        Id,
        Name,
        Group,
        Priority,
        State,
        Progress,
        Attempt,
        Started,
        Duration,
        Result,
        QueuePosition, // pending tasks' place in the engine's start order (1 = next)
        DependsOn,     // the tasks it waits for (issue 18)
        Worker,        // a cluster's: where the task runs or ran
        ColumnCount
    };
    enum Role {
        IdRole = Qt::UserRole,
        StateRole,           // int(TaskState)
        ProgressRole,        // double 0..1, -1 when never set
        StatusRole,          // the progress message
        CancelRequestedRole, // bool
        CancellableRole,     // bool: unfinished and not being cancelled yet
        GroupRole,
        FileRole,
        SortRole, // raw value of the column, for sorting
    };

    // What the table keeps of a task: the snapshot minus what only the stack pane needs.
    struct Row
    {
        TaskId id = 0;
        QString name;
        QString group;
        QString file;
        QString worker;
        QString status;
        QString summary; // one-line result or error
        QString details; // the whole result or error, for the tooltip
        qint64 startedAtMs = -1;
        qint64 finishedAtMs = -1;
        qint64 cancelRequestedAtMs = -1; // when this table first saw the request
        qint64 sequence = 0;             // orders equal priorities in the queue
        double progress = -1;
        int priority = 0;
        int attempt = 0;
        int maxAttempts = 1;
        TaskState state = TaskState::Pending;
        ScriptKind kind = ScriptKind::Lua;
        bool cancelRequested = false;
        TaskDependencies after; // what it waits (or waited) for
    };

    struct GroupStats
    {
        int pending = 0;
        int running = 0;
        int finished = 0;
    };

    // At most this many new rows, prepared for at most this long, are inserted per
    // event-loop turn (about 10 ms in all); the rest of a large batch follows on later turns.
    static constexpr int InsertSliceRows = 8000;
    static constexpr int InsertSliceMs = 3;
    static constexpr char TaskIdsMimeType[] = "application/x-taskdeck-task-ids";

    explicit TaskTableModel(TaskSource *source = nullptr, QObject *parent = nullptr);

    void applyUpdate(const EngineUpdate &update);
    // Removes the rows matching `remove` (clear finished, retry failed); the table then
    // ignores any later news of those tasks.
    int removeTasks(const std::function<bool(const Row &)> &remove);

    void setInsertSlice(int maxRows = InsertSliceRows, int maxMs = InsertSliceMs)
    {
        m_sliceRows = maxRows;
        m_sliceMs = maxMs;
    }
    void setGracePeriodMs(qint64 ms) { m_gracePeriodMs = ms; }
    qint64 gracePeriodMs() const { return m_gracePeriodMs; }
    // Injectable clock (epoch ms) so that tests can check durations and countdowns.
    void setClock(std::function<qint64()> clock) { m_clock = std::move(clock); }
    qint64 now() const;

    const Row &row(int row) const { return m_rows[row]; }
    // The row of `id`, or -1 (unknown, removed, or still arriving).
    int rowOf(TaskId id) const { return m_rowOf.value(id, -1); }
    // Tasks still arriving (a large batch being inserted in slices).
    int queuedCount() const { return m_queued; }
    // True while any row needs a live repaint (a running duration or a cancel countdown).
    bool hasLiveRows() const { return m_groupTotals.running > 0; }
    const QHash<QString, GroupStats> &groups() const { return m_groups; }
    // The rows counted by state over all groups (what the table holds).
    GroupStats groupTotals() const { return m_groupTotals; }
    // Links a failed task to the new task that retries it: its row says so and keeps its
    // error; the new row names what it retries.
    void linkRetry(TaskId failed, TaskId retry);
    TaskId retriedAs(TaskId id) const { return m_retriedAs.value(id); }
    TaskId retryOf(TaskId id) const { return m_retryOf.value(id); }
    // The 1-based place of a row's task among the pending tasks in the engine's start
    // order (priority, then sequence: what "#N in the queue" says), 0 when not pending.
    int queuePosition(const Row &row) const;
    // Whether `a` starts before `b` in that order (both pending).
    static bool startsBefore(const Row &a, const Row &b);
    // Rows tinted for the current task: the tasks it waits for and those waiting for it.
    void setHighlighted(const QSet<TaskId> &waitedFor, const QSet<TaskId> &waiting);
    static QString dependsOnText(const TaskDependencies &after);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    Qt::DropActions supportedDragActions() const override;
    Qt::DropActions supportedDropActions() const override;
    QStringList mimeTypes() const override;
    QMimeData *mimeData(const QModelIndexList &indexes) const override;
    bool canDropMimeData(const QMimeData *data, Qt::DropAction action, int row, int column,
                         const QModelIndex &parent) const override;
    bool dropMimeData(const QMimeData *data, Qt::DropAction action, int row, int column,
                      const QModelIndex &parent) override;

    static QList<TaskId> idsFromMimeData(const QMimeData *data);
    static QString formatDuration(qint64 ms);
    static QString summarize(const TaskSnapshot &snapshot, QString *details = nullptr);

Q_SIGNALS:
    // A group name the table had not seen before (for the group filter and the limits).
    void groupAdded(const QString &group);
    // Emitted after each batch is applied (the limits panel refreshes its counts).
    void batchApplied();

private:
    // Bits of changed columns, from a row's old and new values.
    static quint32 changedColumns(const Row &before, const Row &after);
    void fillRow(Row &row, const TaskSnapshot &snapshot) const;
    void insertQueued();
    void account(const Row &row, int sign);
    QString stateText(const Row &row) const;
    QString startedText(qint64 startedAtMs) const;
    QVariant displayData(const Row &row, int column) const;
    QVariant sortData(const Row &row, int column) const;

    TaskSource *m_source;
    void rebuildRowIndex();
    // The pending rows' keys in start order, kept sorted: a batch's changes are merged in
    // at once (O(n) per batch, not per task), and a row's place is a binary search.
    struct OrderKey
    {
        int priority;
        qint64 sequence;
        TaskId id;
        bool operator<(const OrderKey &o) const
        {
            if (priority != o.priority)
                return priority > o.priority;
            if (sequence != o.sequence)
                return sequence < o.sequence;
            return id < o.id;
        }
        bool operator==(const OrderKey &) const = default;
    };
    static OrderKey orderKey(const Row &row) { return {row.priority, row.sequence, row.id}; }
    // Takes `before` out of the order and puts `after` in (either may be non-pending).
    void reorder(const Row *before, const Row *after);
    // Merges the keys gathered by reorder() into m_order; true when the order changed.
    bool applyReorder();
    QHash<TaskId, TaskId> m_retriedAs; // failed task -> its retry
    QHash<TaskId, TaskId> m_retryOf;   // retry -> the failed task
    std::vector<OrderKey> m_order;
    std::vector<OrderKey> m_orderAdded;
    QSet<TaskId> m_orderRemoved;

    QList<Row> m_rows;
    QHash<TaskId, int> m_rowOf;
    // New tasks not yet inserted: the batches they came in (shared, not copied) and
    // which of each batch's snapshots are new, in arrival order.
    struct QueuedBatch
    {
        QList<TaskSnapshot> snapshots;
        std::vector<qsizetype> fresh;
        size_t next = 0;
        TaskId first = 0; // the fresh tasks' ids: first..last when contiguous,
        TaskId last = 0;  // else the set `ids`
        bool contiguous = true;
        QSet<TaskId> ids;
    };
    bool isQueued(TaskId id) const;
    std::deque<QueuedBatch> m_queue;
    int m_queued = 0;
    QHash<TaskId, TaskSnapshot> m_newer; // later news of tasks still arriving
    bool m_insertScheduled = false;
    QTimer m_insertTimer;
    int m_sliceRows = InsertSliceRows;
    int m_sliceMs = InsertSliceMs;
    QSet<TaskId> m_removed;
    QHash<QString, GroupStats> m_groups;
    QString m_lastGroup;                    // account()'s cache of the last group used
    GroupStats *m_lastGroupStats = nullptr; // (reset when m_groups may rehash)
    GroupStats m_groupTotals;
    qint64 m_gracePeriodMs = 5000;
    std::function<qint64()> m_clock;
    QSet<TaskId> m_waitedFor; // highlighted (setHighlighted)
    QSet<TaskId> m_waiting;
};

// Rows hold only implicitly shared Qt values: the table grows by memmove, not row by row.
Q_DECLARE_TYPEINFO(TaskTableModel::Row, Q_RELOCATABLE_TYPE);
