#pragma once

#include "tasksource.h"

#include <QMainWindow>
#include <QTimer>

#include <functional>
#include <optional>

class ActivityChart;
class CountsBar;
class DropOverlay;
class LimitsPanel;
class LogPane;
class NoticeBar;
class QComboBox;
class QDockWidget;
class QLabel;
class QLineEdit;
class QListWidget;
class QMenu;
class QSplitter;
class StackPane;
class StatsPanel;
class TaskFilterProxyModel;
class TaskItemDelegate;
class TaskTableModel;
class TaskView;
class TrayIcon;

// The dashboard window over a task source (the local engine, or a cluster): observes it
// through its batches and asynchronous look-ups, and talks to it through its commands;
// nothing it does waits for the place where tasks run. Main thread.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    // Ticks of the window's one repaint timer: the chart samples and the throughput
    // every tick, the live durations and cancel countdowns every fourth (1 s).
    static constexpr int TickMs = 250;

    explicit MainWindow(TaskSource *source, QWidget *parent = nullptr);
    ~MainWindow() override;

    // Loads and submits script files, folders expanded to the files in them (recursively);
    // rejected files are listed with their reasons in the "Rejected files" panel.
    // Returns the number of tasks submitted.
    int submitFiles(const QStringList &files);

    // Applies one batch of the source (what TaskSource::batch does).
    void applyBatch(const TaskSourceBatch &batch);
    // Applies the engine part of a batch (public for the benchmark's synthetic feed).
    void applyUpdate(const EngineUpdate &update);

    // Window layout, columns and limits, from and to QSettings. restoreSettings() also
    // turns on saving them when the window closes; a window that never restored (tests)
    // never writes the user's settings. With `limits` false the limits are left as the
    // source has them (a store kept them as they changed).
    void restoreSettings(bool limits = true);
    void saveSettings() const;

    // The tasks the user removes from the table (TaskView's "Clear finished", and the
    // failed rows "Retry failed" replaces) are forgotten by the source (its store) too, so
    // that they do not come back on the next start. While the source cannot keep what it
    // is given (TaskSource::keepProblem(): a store that cannot write), an error stands at
    // the top of the window (see storeErrorKey) until it can again.

    // Shows `text` (plain text) in a notice at the top of the window until the user
    // dismisses it: problems with the store, what came back after a restart. Notices
    // stack, each with its own close button.
    void showNotice(const QString &text);
    // The same for a notice about paused groups: it goes once none of them is paused.
    void showPausedGroupsNotice(const QString &text, const QStringList &groups);
    NoticeBar *noticeBar() const { return m_notices; }
    // The key of the store's error in the notice bar.
    static constexpr const char *storeErrorKey = "store";

    // Pauses or resumes one group, as its "Paused" box in the limits panel does; pausing
    // shows the panel so that the user sees why the group's tasks wait.
    void setGroupPaused(const QString &group, bool paused);
    // Shows the limits panel (groups paused after a restart: the user decides).
    void showLimits();

    // Whether closing the window with tasks running asks first (QuitDialog): the
    // dashboard's window does, test windows and a quit by signal do not.
    void setConfirmQuit(bool confirm) { m_confirmQuit = confirm; }
    // True while the window waits for the running tasks to end before it closes.
    bool isQuitting() const { return m_quitWhenIdle; }

    // The task table, which owns the task actions, the selection and export.
    TaskView *taskView() const { return m_view; }
    TaskTableModel *taskModel() const;
    TaskFilterProxyModel *filterModel() const;
    TaskItemDelegate *taskDelegate() const;
    QMenu *taskContextMenu() const;
    StackPane *stackPane() const { return m_stack; }
    LogPane *logPane() const { return m_log; }
    LimitsPanel *limitsPanel() const { return m_limits; }
    CountsBar *countsBar() const { return m_countsBar; }
    DropOverlay *dropOverlay() const { return m_dropOverlay; }
    StatsPanel *statsPanel() const { return m_stats; }
    TrayIcon *trayIcon() const { return m_tray; }
    QListWidget *rejectedFiles() const { return m_rejected; }
    QDockWidget *rejectedFilesDock() const { return m_rejectedDock; }

public Q_SLOTS:
    void openFiles();
    void openFolder();
    void setPaused(bool paused);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void dragLeaveEvent(QDragLeaveEvent *event) override;
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void createActions();
    QWidget *createFilterBar();
    void reject(const QStringList &reasons);
    void tick();
    void updateStatus();
    // Shows, updates or clears the store's error to match its writeProblem().
    void updateStoreProblem();
    // Handles a drag or drop of files wherever it lands in the window.
    bool handleFileDrag(QEvent *event);

    TaskSource *m_source;
    QString m_storeProblem; // as shown
    TaskView *m_view;
    CountsBar *m_countsBar;
    ActivityChart *m_chart;
    StackPane *m_stack;
    LogPane *m_log;
    LimitsPanel *m_limits;
    QDockWidget *m_limitsDock;
    QDockWidget *m_rejectedDock;
    QListWidget *m_rejected;
    QSplitter *m_splitter;
    QSplitter *m_bottomSplitter;
    QLineEdit *m_filterText;
    QComboBox *m_filterState;
    QComboBox *m_filterGroup;
    QLabel *m_statusTasks;
    QLabel *m_statusPaused;
    NoticeBar *m_notices;
    QAction *m_pauseAction = nullptr;
    QTimer m_tick;
    int m_ticks = 0;
    EngineCounts m_counts;
    bool m_saveOnClose = false;
    bool m_confirmQuit = false;
    TrayIcon *m_tray = nullptr;
    DropOverlay *m_dropOverlay = nullptr;
    StatsPanel *m_stats = nullptr;
    QList<std::pair<QString, QStringList>> m_pausedNotices; // text, its groups
    bool m_quitWhenIdle = false; // the user chose to quit once no task runs
    bool m_quitting = false;     // the user chose; close without asking
};
