#include "taskfilterproxymodel.h"

#include "tasktablemodel.h"

TaskFilterProxyModel::TaskFilterProxyModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setDynamicSortFilter(true);
    setSortRole(TaskTableModel::SortRole);
}

void TaskFilterProxyModel::setSourceModel(QAbstractItemModel *model)
{
    m_tasks = qobject_cast<TaskTableModel *>(model);
    QSortFilterProxyModel::setSourceModel(model);
}

void TaskFilterProxyModel::setText(const QString &text)
{
    if (text == m_text)
        return;
    m_text = text;
    const QStringView digits = QStringView(text).mid(text.startsWith(u'#') ? 1 : 0);
    bool isId = false;
    const qulonglong id = digits.toULongLong(&isId);
    m_textId = isId && QString::number(id) == digits ? TaskId(id) : 0;
    invalidateRowsFilter();
}

void TaskFilterProxyModel::setStateFilter(StateFilter filter)
{
    if (filter == m_state)
        return;
    m_state = filter;
    invalidateRowsFilter();
}

void TaskFilterProxyModel::setGroup(const QString &group)
{
    if (group == m_group)
        return;
    m_group = group;
    invalidateRowsFilter();
}

bool TaskFilterProxyModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (!m_tasks || sourceParent.isValid())
        return QSortFilterProxyModel::filterAcceptsRow(sourceRow, sourceParent);
    const TaskTableModel::Row &row = m_tasks->row(sourceRow);
    switch (m_state) {
    case StateFilter::All:
        break;
    case StateFilter::Active:
        if (isFinished(row.state))
            return false;
        break;
    case StateFilter::Pending:
        if (row.state != TaskState::Pending)
            return false;
        break;
    case StateFilter::Running:
        if (row.state != TaskState::Running)
            return false;
        break;
    case StateFilter::Failed:
        if (row.state != TaskState::Failed && row.state != TaskState::TimedOut)
            return false;
        break;
    case StateFilter::Succeeded:
        if (row.state != TaskState::Succeeded)
            return false;
        break;
    case StateFilter::Cancelled:
        if (row.state != TaskState::Cancelled)
            return false;
        break;
    case StateFilter::Interrupted:
        if (row.state != TaskState::Interrupted)
            return false;
        break;
    case StateFilter::Finished:
        if (!isFinished(row.state))
            return false;
        break;
    }
    if (!m_group.isEmpty() && row.group != m_group)
        return false;
    if (m_text.isEmpty())
        return true;
    const auto has = [this](const QString &s) { return s.contains(m_text, Qt::CaseInsensitive); };
    // The details are the whole result or error, traceback included; the summary is their
    // first line, unless it says something else ("retrying after: ...").
    return (m_textId != 0 && row.id == m_textId) || has(row.name) || has(row.group) ||
           has(row.file) || has(row.details) ||
           (!row.details.startsWith(row.summary) && has(row.summary));
}

bool TaskFilterProxyModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    if (!m_tasks)
        return QSortFilterProxyModel::lessThan(left, right);
    const TaskTableModel::Row &a = m_tasks->row(left.row());
    const TaskTableModel::Row &b = m_tasks->row(right.row());
    // Ties fall back to the id, so that equal keys keep a stable, meaningful order.
    const auto byId = [&] { return a.id < b.id; };
    switch (left.column()) {
    case TaskTableModel::Id:
        return a.id < b.id;
    case TaskTableModel::Name:
        if (const int c = a.name.localeAwareCompare(b.name))
            return c < 0;
        return byId();
    case TaskTableModel::Group:
        if (const int c = a.group.compare(b.group))
            return c < 0;
        return byId();
    case TaskTableModel::Priority:
        // Ascending priority with later ids first: descending is then the engine's order.
        if (a.priority != b.priority)
            return a.priority < b.priority;
        return a.id > b.id;
    case TaskTableModel::State:
        if (a.state != b.state)
            return a.state < b.state;
        return byId();
    case TaskTableModel::Progress:
        if (a.progress != b.progress)
            return a.progress < b.progress;
        return byId();
    case TaskTableModel::Attempt:
        if (a.attempt != b.attempt)
            return a.attempt < b.attempt;
        return byId();
    case TaskTableModel::Started:
        if (a.startedAtMs != b.startedAtMs)
            return a.startedAtMs < b.startedAtMs;
        return byId();
    case TaskTableModel::Duration: {
        const qint64 now = m_tasks->now();
        const auto duration = [now](const TaskTableModel::Row &r) -> qint64 {
            if (r.startedAtMs < 0)
                return -1;
            return (r.finishedAtMs >= 0 ? r.finishedAtMs : now) - r.startedAtMs;
        };
        const qint64 da = duration(a);
        const qint64 db = duration(b);
        if (da != db)
            return da < db;
        return byId();
    }
    case TaskTableModel::Result:
        if (const int c = a.summary.compare(b.summary))
            return c < 0;
        return byId();
    case TaskTableModel::QueuePosition: {
        // The engine's start order first, the tasks that are not queued after them.
        const bool pa = a.state == TaskState::Pending;
        const bool pb = b.state == TaskState::Pending;
        if (pa != pb)
            return pa;
        return pa ? TaskTableModel::startsBefore(a, b) : byId();
    }
    }
    return QSortFilterProxyModel::lessThan(left, right);
}
