#pragma once

#include "taskspec.h"

#include <QSortFilterProxyModel>

class TaskTableModel;

// Sorting and filtering of the task table: by text (the id, or a part of the name, group,
// file, or the whole result or error text), by state and by group. Compares the table's
// rows directly rather than through QVariants, so that sorting and filtering 100,000 rows
// stays cheap. Main thread.
class TaskFilterProxyModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    enum class StateFilter {
        All,
        Active, // pending or running
        Pending,
        Running,
        Failed, // failed or timed out
        Succeeded,
        Cancelled,
        Interrupted, // running when Taskdeck itself stopped
        Finished,
    };

    explicit TaskFilterProxyModel(QObject *parent = nullptr);

    void setSourceModel(QAbstractItemModel *model) override;

    void setText(const QString &text);
    QString text() const { return m_text; }
    void setStateFilter(StateFilter filter);
    StateFilter stateFilter() const { return m_state; }
    void setGroup(const QString &group); // empty: every group
    QString group() const { return m_group; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    TaskTableModel *m_tasks = nullptr;
    QString m_text;
    TaskId m_textId = 0; // the task id m_text names ("12" or "#12"), or 0
    StateFilter m_state = StateFilter::All;
    QString m_group;
};
