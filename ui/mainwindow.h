#pragma once

#include "tasksource.h"

#include <QMainWindow>
#include <QTimer>

#include <functional>
#include <optional>

class ActivityChart;
class CountsBar;
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
class QTableView;
class StackPane;
class TaskFilterProxyModel;
class TaskItemDelegate;
class TaskTableModel;

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
    // never writes the user's settings.
    void restoreSettings();
    void saveSettings() const;

    // The tasks the user removes from the table ("Clear finished", and the failed rows
    // "Retry failed" replaces) are forgotten by the source (its store) too, so that they
    // do not come back on the next start. While the source cannot keep what it is given
    // (TaskSource::keepProblem(): a store that cannot write), an error stands at the top
    // of the window (see storeErrorKey) until it can again.

    // Shows `text` (plain text) in a notice at the top of the window until the user
    // dismisses it: problems with the store, what came back after a restart. Notices
    // stack, each with its own close button.
    void showNotice(const QString &text);
    NoticeBar *noticeBar() const { return m_notices; }
    // The key of the store's error in the notice bar.
    static constexpr const char *storeErrorKey = "store";

    // Pauses or resumes one group, as its "Paused" box in the limits panel does; pausing
    // shows the panel so that the user sees why the group's tasks wait.
    void setGroupPaused(const QString &group, bool paused);
    // Shows the limits panel (groups paused after a restart: the user decides).
    void showLimits();

    // Writes the tasks to export (the selected rows, or every row the filters show when
    // none is selected), in the table's order, to `path`: CSV for a .csv name, JSON lines
    // otherwise (see TaskExport). Reports in the status bar; on failure returns false and
    // passes the reason to `done`. The tasks are asked of the source: the file is written
    // once it answers, and `done` (if any) called then with whether it was.
    // File > Export asks for the path and then calls this.
    using ExportDone = std::function<void(bool written, const QString &error)>;
    void exportTasks(const QString &path, ExportDone done = {});
    // What exportTasks() writes: the selected tasks, or all shown when none is selected.
    QList<TaskId> tasksToExport() const;

    TaskTableModel *taskModel() const { return m_model; }
    TaskFilterProxyModel *filterModel() const { return m_proxy; }
    QTableView *taskView() const { return m_view; }
    TaskItemDelegate *taskDelegate() const { return m_delegate; }
    StackPane *stackPane() const { return m_stack; }
    LogPane *logPane() const { return m_log; }
    LimitsPanel *limitsPanel() const { return m_limits; }
    CountsBar *countsBar() const { return m_countsBar; }
    QListWidget *rejectedFiles() const { return m_rejected; }
    QDockWidget *rejectedFilesDock() const { return m_rejectedDock; }
    QMenu *taskContextMenu() const { return m_contextMenu; }

    // The tasks of the selected rows, in the table's order.
    QList<TaskId> selectedTasks() const;
    std::optional<TaskId> currentTask() const;
    // Selects the row of `id` and makes it current.
    bool selectTask(TaskId id);

public Q_SLOTS:
    void openFiles();
    void openFolder();
    void cancelSelected();
    void cancelAllPending();
    void cancelAll();
    void moveSelectedToTop();
    void moveSelectedToBottom();
    void raiseSelectedPriority();
    void lowerSelectedPriority();
    void editPriority();
    void retryFailed();
    // Runs the selected finished tasks (interrupted ones included) again with the same
    // definition, as new tasks; their rows stay. Returns how many it asked to re-run.
    int rerunSelected();
    void clearFinished();
    void exportWithDialog();
    void setPaused(bool paused);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void createActions();
    QWidget *createFilterBar();
    void reject(const QStringList &reasons);
    void tick();
    void onCurrentRowChanged();
    void followRunningTask();
    void updateStatus();
    void updateActions();
    // The finished ones among the selected tasks (or the current one), in the table's order.
    QList<TaskId> selectedFinishedTasks() const;
    void forget(const QList<TaskId> &ids);
    // Shows, updates or clears the store's error to match its writeProblem().
    void updateStoreProblem();
    void changeSelectedPriority(int delta);
    // Handles a drag or drop of files wherever it lands in the window.
    bool handleFileDrag(QEvent *event);

    TaskSource *m_source;
    QString m_storeProblem; // as shown
    TaskTableModel *m_model;
    TaskFilterProxyModel *m_proxy;
    TaskItemDelegate *m_delegate;
    QTableView *m_view;
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
    QMenu *m_contextMenu = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_rerunAction = nullptr;
    QString m_exportPath; // the last file exported to, offered again
    QTimer m_tick;
    int m_ticks = 0;
    EngineCounts m_counts;
    bool m_saveOnClose = false;
    bool m_followRunning = true; // until the user selects a task
    bool m_selectingAutomatically = false;
};
