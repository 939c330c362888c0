#pragma once

#include "tasktablemodel.h"

#include <QHash>
#include <QWidget>

class TaskSource;
class QCheckBox;
class QSpinBox;
class QTableWidget;

// The limits editor: the global limit on running tasks, and per group (every group seen
// in the table) its limit, whether it is paused (a paused group's name stands out;
// unticking resumes it), and how many of its tasks run and wait. It shows what the task
// source says (applyLimits(), from its batches); every change goes to the source at
// once and shows meanwhile, and batches older than the change are not shown. Main thread.
class LimitsPanel : public QWidget
{
    Q_OBJECT
public:
    enum GroupColumn { NameColumn, LimitColumn, PausedColumn, RunningColumn, PendingColumn };

    explicit LimitsPanel(TaskSource *source, QWidget *parent = nullptr);

    int maxRunning() const;
    void setMaxRunning(int limit);
    bool isPaused() const;
    void setPaused(bool paused);
    // 0: no limit.
    int groupLimit(const QString &group) const;
    void setGroupLimit(const QString &group, int limit);
    bool isGroupPaused(const QString &group) const;
    void setGroupPaused(const QString &group, bool paused);
    QStringList pausedGroups() const;
    QStringList groups() const;

    // Shows the source's limits and paused state (asks nothing of it).
    void applyLimits(const EngineLimits &limits);

    void addGroup(const QString &group);
    void updateCounts(const QHash<QString, TaskTableModel::GroupStats> &groups);

    QTableWidget *groupTable() const { return m_groups; }

Q_SIGNALS:
    void pausedChanged(bool paused);
    void groupPausedChanged(const QString &group, bool paused);
    void limitsChanged();

private:
    int rowOf(const QString &group) const;
    void showGroupPaused(const QString &group, bool paused);

    // Sends a change to the source; limits it reports before taking it are stale.
    void changed();

    TaskSource *m_source;
    bool m_applying = false; // showing the source's state: nothing to send
    int m_unconfirmed = 0;   // changes sent that the source has not taken yet
    QSpinBox *m_maxRunning;
    QCheckBox *m_paused;
    QTableWidget *m_groups;
};
